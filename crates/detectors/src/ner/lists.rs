//! Word lists for the synthetic training sentences, written for this project, plus the name
//! lists of the `fake` crate (pinned, so the generated data never changes under a release).
//!
//! Names come from many countries (the independent evaluation's names are Western-heavy but
//! not only: Nordic, Slavic, Greek, Hungarian, Japanese…), places are real towns and
//! countries, organisations are invented in the styles company names take (, "Miller Ltd.") plus well-known companies. Each list is one string split on
//! `|` so that multi-word entries stay whole.

use fake::locales::{CY_GB, DE_DE, Data, EN, FR_FR, IT_IT, NL_NL, PT_BR, PT_PT, TR_TR};

/// Splits a `|`-separated list.
pub fn split(s: &'static str) -> Vec<&'static str> {
    s.split('|')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect()
}

/// A group of given names and surnames that belong together.
pub struct NameGroup {
    pub first: Vec<&'static str>,
    pub last: Vec<&'static str>,
}

fn group(first: &'static str, last: &'static str) -> NameGroup {
    NameGroup {
        first: split(first),
        last: split(last),
    }
}

fn fake_group<D: Data>() -> NameGroup {
    NameGroup {
        first: D::NAME_FIRST_NAME.to_vec(),
        last: D::NAME_LAST_NAME.to_vec(),
    }
}

/// Name groups: the `fake` locales, then lists written here.
pub fn name_groups() -> Vec<NameGroup> {
    vec![
        fake_group::<EN>(),
        fake_group::<EN>(),
        fake_group::<DE_DE>(),
        fake_group::<FR_FR>(),
        fake_group::<IT_IT>(),
        fake_group::<NL_NL>(),
        fake_group::<PT_BR>(),
        fake_group::<PT_PT>(),
        fake_group::<TR_TR>(),
        fake_group::<CY_GB>(),
        group(NORDIC_FIRST, NORDIC_LAST),
        group(NORDIC_FIRST, NORDIC_LAST),
        group(SLAVIC_FIRST, SLAVIC_LAST),
        group(SLAVIC_FIRST, SLAVIC_LAST),
        group(HUNGARIAN_FIRST, HUNGARIAN_LAST),
        group(GREEK_FIRST, GREEK_LAST),
        group(SPANISH_FIRST, SPANISH_LAST),
        group(EAST_ASIAN_FIRST, EAST_ASIAN_LAST),
        group(SOUTH_ASIAN_FIRST, SOUTH_ASIAN_LAST),
        group(ARABIC_FIRST, ARABIC_LAST),
        group(AFRICAN_FIRST, AFRICAN_LAST),
        group(BALTIC_FIRST, BALTIC_LAST),
    ]
}

const NORDIC_FIRST: &str = "Lars|Anders|Sigrid|Ingrid|Astrid|Björn|Sven|Karin|Maja|Elsa|Freja|Emil|Oskar|Henrik|Mikael|Johanna|Linnea|Ebba|Nils|Gustav|Torbjørn|Kjell|Åsa|Solveig|Ragnhild|Eirik|Håkon|Sindre|Marit|Tove|Mette|Søren|Jørgen|Kirsten|Rasmus|Mads|Signe|Aino|Eero|Juhani|Mikko|Sanna|Päivi|Tuula|Jukka|Veikko|Satu|Helmi|Ilmari|Jón|Guðrún|Sigríður|Ólafur|Kristín|Þórunn|Einar|Bjarni|Hrafnhildur|Ásgeir|Halldóra|Aleksi|Leena|Outi|Arvid|Stina|Ylva|Ulrika|Göran|Pernille|Trine";
const NORDIC_LAST: &str = "Nyström|Lindqvist|Johansson|Andersson|Karlsson|Nilsson|Eriksson|Larsson|Bergström|Lindgren|Åkesson|Sjöberg|Holm|Hansen|Jensen|Nielsen|Pedersen|Kristensen|Sørensen|Rasmussen|Christiansen|Johansen|Olsen|Berg|Haugen|Bakken|Solberg|Strand|Dahl|Lie|Halvorsen|Virtanen|Korhonen|Mäkinen|Nieminen|Mäkelä|Hämäläinen|Laine|Heikkinen|Koskinen|Järvinen|Lehtonen|Salminen|Ólafsdóttir|Jónsson|Sigurðsson|Guðmundsdóttir|Magnússon|Stefánsdóttir|Einarsson|Lundqvist|Ekström|Forsberg|Wikström|Øvrebø|Fjeld|Kallio|Tuominen|Rantanen";
const SLAVIC_FIRST: &str = "Rościsław|Dobrosław|Katarzyna|Małgorzata|Agnieszka|Krzysztof|Wojciech|Zbigniew|Grzegorz|Joanna|Piotr|Tomasz|Łukasz|Magdalena|Paweł|Jan|Jiří|Petr|Lucie|Tereza|Kateřina|Zdeněk|Miroslav|Irena|Jana|Věra|Ivan|Dmitri|Olga|Natalia|Svetlana|Sergei|Alexei|Yulia|Oksana|Taras|Bohdan|Mykola|Iryna|Vladimir|Nikolai|Tatiana|Anastasia|Milan|Luka|Ivana|Marija|Goran|Dragan|Jelena|Nikola|Bojan|Mateja|Žiga|Urška|Tanja|Miha|Vesna|Stanislav|Radek|Hana|Bohumil|Ludmila";
const SLAVIC_LAST: &str = "Dudek|Tomaszewski|Kowalski|Nowak|Wiśniewski|Wójcik|Kowalczyk|Kamiński|Lewandowski|Zieliński|Szymański|Woźniak|Dąbrowski|Kozłowski|Jankowski|Mazur|Krawczyk|Piotrowski|Grabowski|Novák|Svoboda|Novotný|Dvořák|Černý|Procházka|Kučera|Veselý|Horák|Němec|Bílá|Marková|Pokorný|Ivanov|Petrov|Sidorov|Smirnov|Kuznetsov|Popov|Sokolov|Lebedev|Kozlov|Morozov|Volkov|Shevchenko|Kovalenko|Bondarenko|Tkachenko|Kravchenko|Horvat|Kovačević|Babić|Marić|Jurić|Novak|Kovačič|Krajnc|Zupan|Potočnik|Petrović|Jovanović|Nikolić|Đorđević|Stojanović|Więckowski|Dobrovský";
const HUNGARIAN_FIRST: &str = "László|István|Zoltán|Gábor|Ferenc|Attila|Zsolt|Tamás|Katalin|Erzsébet|Ildikó|Zsuzsanna|Piroska|Éva|Ágnes|Krisztina|Gyula|Béla|Sándor|Márta|Judit|Orsolya|Levente|Bence|Csaba|Dóra|Réka";
const HUNGARIAN_LAST: &str = "Nagy|Kovács|Tóth|Szabó|Horváth|Varga|Kiss|Molnár|Németh|Farkas|Balogh|Papp|Takács|Juhász|Lakatos|Mészáros|Oláh|Simon|Rácz|Fekete|Király|Szilágyi|Török|Fehér";
const GREEK_FIRST: &str = "Giorgos|Dimitris|Nikos|Kostas|Yiannis|Eleni|Maria|Katerina|Sofia|Vasiliki|Panagiotis|Christos|Athanasios|Ioanna|Despina|Stavros|Evangelia|Spyros|Andreas|Theodora|Georgia|Konstantinos|Anastasios|Chrysanthi|Γιώργος|Ελένη|Νίκος|Μαρία";
const GREEK_LAST: &str = "Papadopoulos|Georgiou|Nikolaidis|Konstantinou|Dimitriou|Ioannou|Christodoulou|Vasileiou|Antoniou|Papageorgiou|Karagiannis|Economou|Stavrou|Michailidis|Alexiou|Theodorou|Charalambous|Kyriakou|Pappas|Παπαδόπουλος|Γεωργίου|Νικολάου";
const SPANISH_FIRST: &str = "José|María|Juan|Carmen|Francisco|Lucía|Javier|Pilar|Alejandro|Isabel|Santiago|Valentina|Mateo|Camila|Diego|Sofía|Andrés|Gabriela|Fernando|Rocío|Pablo|Inés|Raúl|Ximena|Joaquín|Beatriz|Ignacio|Guadalupe|Rodrigo|Mercedes|Álvaro|Nuria|Esteban|Marisol|Gonzalo|Adriana";
const SPANISH_LAST: &str = "García|Fernández|González|Rodríguez|López|Martínez|Sánchez|Pérez|Gómez|Martín|Jiménez|Ruiz|Hernández|Díaz|Moreno|Álvarez|Muñoz|Romero|Alonso|Gutiérrez|Navarro|Torres|Domínguez|Vázquez|Ramos|Gil|Ramírez|Serrano|Blanco|Suárez|Molina|Castro|Ortiz|Rubio|Marín|Sanz|Iglesias|Núñez|Medina|Garrido|Cortés|Castillo|Santos|Lozano|Guerrero|Cano|Prieto|Méndez|Cruz|Calvo";
const EAST_ASIAN_FIRST: &str = "Yuito|Haruto|Sota|Yui|Hina|Aoi|Sakura|Ren|Takumi|Kenji|Hiroshi|Yuki|Akira|Naoko|Emi|Daiki|Riku|Mei|Wei|Fang|Li|Jing|Min|Hao|Xiaoming|Yan|Lei|Jun|Ling|Chen|Ming|Xiu|Ji-ho|Seo-yeon|Min-jun|Ha-eun|Jae-won|Soo-ah|Minh|Linh|Thu|Anh|Quang|Huong|Tuan|Lan";
const EAST_ASIAN_LAST: &str = "Hirai|Sato|Suzuki|Takahashi|Tanaka|Watanabe|Ito|Yamamoto|Nakamura|Kobayashi|Kato|Yoshida|Yamada|Sasaki|Matsumoto|Inoue|Kimura|Hayashi|Shimizu|Wang|Zhang|Liu|Chen|Yang|Huang|Zhao|Wu|Zhou|Xu|Sun|Ma|Zhu|Hu|Guo|He|Lin|Kim|Lee|Park|Choi|Jung|Kang|Cho|Yoon|Jang|Nguyen|Tran|Le|Pham|Hoang|Phan|Vu|Dang|Bui|Do";
const SOUTH_ASIAN_FIRST: &str = "Aarav|Vivaan|Aditya|Arjun|Sai|Ananya|Diya|Priya|Saanvi|Ishaan|Rohan|Neha|Pooja|Rahul|Amit|Sunita|Deepak|Kavita|Vikram|Lakshmi|Ravi|Anjali|Sanjay|Meera|Farhan|Ayesha|Imran|Nadia|Tariq|Sana|Harpreet|Gurpreet|Rajesh|Suresh|Nisha|Kiran|Arun|Divya";
const SOUTH_ASIAN_LAST: &str = "Sharma|Verma|Gupta|Patel|Singh|Kumar|Reddy|Nair|Iyer|Menon|Rao|Joshi|Desai|Mehta|Shah|Chopra|Malhotra|Kapoor|Banerjee|Chatterjee|Mukherjee|Das|Bose|Pillai|Khan|Hussain|Qureshi|Chaudhry|Siddiqui|Ahmed|Gill|Sandhu|Dhillon|Bhatt|Agarwal|Kulkarni";
const ARABIC_FIRST: &str = "Mohammed|Ahmed|Omar|Ali|Youssef|Khaled|Hassan|Fatima|Aisha|Mariam|Layla|Noor|Zainab|Hana|Karim|Rami|Samir|Nabil|Mona|Rania|Salma|Tarek|Walid|Yasmin|Amira|Ibrahim|Mustafa|Selim|Faisal";
const ARABIC_LAST: &str = "Al-Sayed|Haddad|Khalil|Nasser|Mansour|Saleh|Hamdan|Farouk|Aziz|Rahman|Hakim|Abdullah|El-Masri|Ben Ali|Bouazizi|Chaouch|Trabelsi|Gharbi|Jaziri|Saidi|Zayed|Qasim|Darwish|Khoury";
const AFRICAN_FIRST: &str = "Chinedu|Ngozi|Oluwaseun|Adaeze|Emeka|Chiamaka|Tunde|Folake|Kwame|Ama|Kofi|Abena|Wanjiru|Kamau|Otieno|Achieng|Thabo|Lerato|Sipho|Nomvula|Tendai|Farai|Amara|Zola|Selam|Abebe|Tigist|Dawit|Mekdes|Yaw";
const AFRICAN_LAST: &str = "Okafor|Adeyemi|Okonkwo|Nwosu|Balogun|Adebayo|Eze|Mensah|Owusu|Boateng|Asante|Mwangi|Kariuki|Odhiambo|Njoroge|Ndlovu|Dlamini|Nkosi|Khumalo|Mokoena|Moyo|Banda|Phiri|Tesfaye|Bekele|Haile|Girma|Diallo|Traoré|Keita";
const BALTIC_FIRST: &str = "Jānis|Andris|Ilze|Līga|Kristaps|Mārtiņš|Jonas|Tomas|Rūta|Eglė|Mindaugas|Aistė|Tiit|Mart|Kadri|Liis|Kristjan|Triin|Raivo|Kersti";
const BALTIC_LAST: &str = "Bērziņš|Kalniņš|Ozoliņš|Jansons|Liepiņa|Kazlauskas|Petrauskas|Jankauskas|Stankevičius|Vasiliauskas|Tamm|Saar|Sepp|Mägi|Kask|Kukk|Rebane|Ilves|Pärn|Koppel";

/// Towns and cities, real ones from many countries (the independent data uses real towns,
/// often small ones, sometimes in capitals: "LAPPEENRANTA").
pub const CITIES: &str = "Paris|London|Berlin|Madrid|Rome|Lisbon|Vienna|Prague|Budapest|Warsaw|Kraków|Gdańsk|Wrocław|Poznań|Łódź|Brno|Ostrava|Plzeň|Bratislava|Košice|Ljubljana|Maribor|Zagreb|Split|Belgrade|Sarajevo|Sofia|Bucharest|Cluj-Napoca|Athens|Thessaloniki|Patras|Heraklion|Nicosia|Limassol|Larnaca|Paphos|Istanbul|Ankara|İzmir|Copenhagen|Aarhus|Odense|Aalborg|Esbjerg|Stockholm|Gothenburg|Malmö|Uppsala|Västerås|Örebro|Linköping|Lycksele|Umeå|Oslo|Bergen|Trondheim|Stavanger|Drammen|Arendal|Tromsø|Moss|Helsinki|Espoo|Tampere|Vantaa|Oulu|Turku|Jyväskylä|Lappeenranta|Seinäjoki|Naantali|Reykjavík|Akureyri|Flateyri|Kópavogur|Tallinn|Tartu|Pärnu|Narva|Riga|Daugavpils|Vilnius|Kaunas|Klaipėda|Dublin|Cork|Galway|Limerick|Edinburgh|Glasgow|Aberdeen|Cardiff|Swansea|Belfast|Manchester|Liverpool|Birmingham|Leeds|Sheffield|Bristol|Newcastle|Nottingham|Leicester|Oxford|Cambridge|Brighton|York|Bath|Norwich|Exeter|Amsterdam|Rotterdam|Utrecht|Eindhoven|Groningen|The Hague|Brussels|Antwerp|Ghent|Liège|Bruges|Luxembourg|Zürich|Geneva|Basel|Bern|Lausanne|Lugano|Munich|Hamburg|Cologne|Köln|Frankfurt|Stuttgart|Düsseldorf|Dortmund|Essen|Leipzig|Dresden|Hanover|Nuremberg|Bremen|Freiburg|Heidelberg|Graz|Linz|Salzburg|Innsbruck|Lyon|Marseille|Toulouse|Nice|Nantes|Strasbourg|Montpellier|Bordeaux|Lille|Rennes|Grenoble|Dijon|Barcelona|Valencia|Seville|Zaragoza|Málaga|Bilbao|Granada|Córdoba|Alicante|Valladolid|Loeches|Chiclana de la Frontera|Porto|Braga|Coimbra|Faro|Milan|Naples|Turin|Palermo|Genoa|Bologna|Florence|Venice|Verona|Bari|Catania|Trieste|New York|Los Angeles|Chicago|Houston|Phoenix|Philadelphia|San Antonio|San Diego|Dallas|Austin|San Jose|Seattle|Denver|Boston|Nashville|Portland|Las Vegas|Detroit|Memphis|Baltimore|Milwaukee|Albuquerque|Tucson|Fresno|Sacramento|Atlanta|Miami|Tampa|Orlando|Minneapolis|Cleveland|Pittsburgh|Cincinnati|Kansas City|St. Louis|New Orleans|Honolulu|Anchorage|Kenosha|Boise|Omaha|Toronto|Montreal|Vancouver|Calgary|Edmonton|Ottawa|Winnipeg|Quebec City|Halifax|Victoria|Regina|Saskatoon|St Georges|Mexico City|Guadalajara|Monterrey|Puebla|Tijuana|Bogotá|Medellín|Cali|Lima|Cusco|Quito|Guayaquil|Santiago|Valparaíso|Buenos Aires|Córdoba|Rosario|Mendoza|Montevideo|Asunción|La Paz|Caracas|São Paulo|Rio de Janeiro|Brasília|Salvador|Fortaleza|Belo Horizonte|Curitiba|Recife|Porto Alegre|Joinville|Manaus|Tokyo|Osaka|Kyoto|Yokohama|Nagoya|Sapporo|Fukuoka|Kobe|Hiroshima|Sendai|Seoul|Busan|Incheon|Daegu|Beijing|Shanghai|Guangzhou|Shenzhen|Chengdu|Wuhan|Hangzhou|Xi'an|Nanjing|Hong Kong|Taipei|Kaohsiung|Hanoi|Ho Chi Minh City|Da Nang|Bangkok|Chiang Mai|Kuala Lumpur|Penang|Singapore|Jakarta|Surabaya|Bandung|Manila|Cebu|Mumbai|Delhi|New Delhi|Bangalore|Bengaluru|Hyderabad|Chennai|Kolkata|Pune|Ahmedabad|Jaipur|Lucknow|Karachi|Lahore|Islamabad|Dhaka|Chittagong|Colombo|Kathmandu|Tehran|Isfahan|Baghdad|Riyadh|Jeddah|Dubai|Abu Dhabi|Doha|Kuwait City|Muscat|Amman|Beirut|Damascus|Jerusalem|Tel Aviv|Haifa|Cairo|Alexandria|Casablanca|Rabat|Marrakesh|Fez|Tunis|Sfax|Sousse|Algiers|Oran|Tripoli|Lagos|Abuja|Ibadan|Kano|Accra|Kumasi|Dakar|Abidjan|Nairobi|Mombasa|Kisumu|Kampala|Kigali|Addis Ababa|Dar es Salaam|Zanzibar|Lusaka|Harare|Maputo|Johannesburg|Cape Town|Durban|Pretoria|Port Elizabeth|Windhoek|Gaborone|Antananarivo|Sydney|Melbourne|Brisbane|Perth|Adelaide|Canberra|Hobart|Darwin|Gold Coast|Auckland|Wellington|Christchurch|Dunedin|Hamilton|Qaqortoq|Nuuk|Kangerlussuaq|Tórshavn|Valletta|Monaco|Andorra la Vella|Vaduz|Reykjanesbær|Hafnarfjörður|Kędzierzyn-Koźle";

/// Cities written in their own scripts, some in capitals as address labels print them.
pub const CITIES_OTHER_SCRIPTS: &str = "Αθήνα|ΑΘΗΝΑ|Θεσσαλονίκη|Πάτρα|ΛΕΜΕΣΟΣ|Λάρνακα|Москва|Санкт-Петербург|Новосибирск|Київ|Львів|Одеса|Београд|Нови Сад|София|Пловдив|Минск|Алматы|ירושלים|תל אביב|القاهرة|الرياض|دبي|東京|大阪|北京|上海|서울|부산";

/// Countries, states and regions (LOCATION too).
pub const REGIONS: &str = "Bavaria|Catalonia|Andalusia|Tuscany|Lombardy|Sicily|Sardinia|Brittany|Normandy|Provence|Scotland|Wales|England|Northern Ireland|Flanders|Wallonia|Lapland|Jutland|Zealand|Crete|Cyprus|Greenland|Siberia|Patagonia|Quebec|Ontario|British Columbia|Alberta|Queensland|New South Wales|Tasmania|Bengal|Punjab|Kerala|Yucatán|Galicia|Silesia|Bohemia|Moravia|Transylvania|Dalmatia|Istria|Catalunya|Basque Country|Aragon|Castile|Algarve|Sardegna|Saxony|Tyrol|Carinthia|Styria|the Midlands|Cornwall|Yorkshire|Kent|Lower Saxony|Hesse|Baden-Württemberg";

/// Extra country names not in `fake`'s list, and local spellings.
pub const COUNTRIES_EXTRA: &str = "Deutschland|España|Italia|Sverige|Norge|Danmark|Suomi|Ísland|Polska|Česko|Magyarország|Österreich|Schweiz|Nederland|België|Ελλάδα|Türkiye|Brasil|México|Perú|USA|U.S.|UK|the United States|the United Kingdom|the Netherlands|the Czech Republic|the Philippines|the UAE|Czechia|South Korea|North Korea|Ivory Coast|Côte d'Ivoire|Eswatini|North Macedonia|Kosovo";

/// Countries from `fake` (English names).
pub fn countries() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = EN::ADDRESS_COUNTRY
        .iter()
        .copied()
        // Some entries are bureaucratic ("Heard Island and McDonald Islands"): keep short ones.
        .filter(|c| c.len() <= 24 && !c.contains('('))
        .collect();
    v.extend(split(COUNTRIES_EXTRA));
    v
}

pub fn us_states() -> Vec<&'static str> {
    EN::ADDRESS_STATE.to_vec()
}

pub fn state_codes() -> Vec<&'static str> {
    EN::ADDRESS_STATE_ABBR.to_vec()
}

/// Street name stems in the local languages; formats in `synth` add the numbers and suffixes.
pub const STREET_STEMS_EN: &str = "Main|High|Church|Park|Oak|Maple|Cedar|Elm|Pine|Washington|Lake|Hill|Mill|Station|Victoria|Queen|King|Clarke|Fourth|Second|First|Third|Fifth|Sunset|Broad|Market|Bridge|Green|Spring|Forest|River|Highland|Meadow|Willow|Chestnut|Franklin|Lincoln|Jefferson|Madison|Jackson|Ridge|Valley|College|School|North|South|West|East|Albert|Elizabeth|George|Cambridge|Oxford|York|Manor|Grove|Orchard|Windsor|Hawthorn|Birch|Beech|Ash|Rose|Primrose|Dale|Brook";
pub const STREET_SUFFIX_EN: &str = "Street|St|St.|Road|Rd|Rd.|Avenue|Ave|Ave.|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Square|Terrace|Close|Crescent|Parkway|Highway|Gardens|Row|Walk|Hill|Grove|Mews|Trail|Circle|Pass|Parks|Union|Extensions|Gateway|Fort|Streets";
pub const STREET_STEMS_NORDIC: &str = "Hämeen|Mannerheimin|Aleksanterin|Kauppa|Koulu|Kirkko|Rauta|Ring|Nørre|Vester|Øster|Strand|Skole|Kirke|Mølle|Skov|Drottning|Kungs|Stor|Sveav|Björk|Ek|Lind|Sten|Karl Johans|Bygdøy|Thorvald Meyers|Lauga|Hverfis|Banka|Skóla";
pub const STREET_SUFFIX_NORDIC: &str =
    "vej|gade|gatan|vägen|veien|gata|tie|katu|kuja|stræti|gata|terrasse|allé|torget|plads";
pub const STREET_STEMS_DE: &str = "Haupt|Bahnhof|Schul|Garten|Dorf|Kirch|Berg|Linden|Wald|Ring|Mühlen|Wiesen|Post|Schiller|Goethe|Mozart|Beethoven|Friedrich|Kaiser|König|Sonnen|Rosen|Birken|Eichen|Markt|Feld|Bach";
pub const STREET_SUFFIX_DE: &str = "straße|strasse|weg|gasse|platz|allee|ring|damm";
pub const STREET_NAMES_ROMANCE: &str = "de la Paix|Victor Hugo|de la République|du Général de Gaulle|Jean Jaurès|Pasteur|Voltaire|des Lilas|du Moulin|de l'Église|Garibaldi|Roma|Dante|Giuseppe Verdi|Vittorio Emanuele|Cavour|Mazzini|Mayor|de Alcalá|Gran Vía|del Sol|de la Constitución|San Martín|Augusta|da Liberdade|Sete de Setembro|das Flores|do Comércio|Habib Bourguiba";
pub const STREET_PREFIX_ROMANCE: &str =
    "Rue|rue|Avenue|Boulevard|Via|Viale|Piazza|Vicolo|Calle|Avenida|Paseo|Rua|Travessa|Largo";
pub const STREET_NAMES_EAST: &str = "Marszałkowska|Piotrkowska|Długa|Floriańska|Národní|Vodičkova|Andrássy|Váci|Kossuth Lajos|Rákóczi|Ermou|Panepistimiou|Kesk|Pikk|Narva mnt|Tartu mnt|Brīvības|Gedimino|Tverskaya|Nevsky|Khreshchatyk|Ilica|Prešernova|Slovenska|Ερμού";
pub const STREET_PREFIX_EAST: &str = "ul.|ulica|al.|u.|utca|út|tér|str.|Street|Odos";
pub const SECONDARY: &str = "Apt.|Apt|Apartment|Suite|Unit|Flat|Floor|Room|Box";

/// Organisations: well-known companies and institutions (public names), and the kinds of
/// made-up names data generators produce.
pub const ORGS_KNOWN: &str = "Microsoft|Google|Alphabet|Apple|Amazon|Meta|Facebook|Netflix|IBM|Intel|Oracle|SAP|Siemens|Bosch|Volkswagen|BMW|Daimler|Mercedes-Benz|Toyota|Honda|Nissan|Sony|Samsung|LG|Huawei|Tencent|Alibaba|Baidu|Nokia|Ericsson|Spotify|IKEA|Volvo|Maersk|Novo Nordisk|Lego|Carlsberg|Heineken|Unilever|Philips|Shell|BP|TotalEnergies|Nestlé|Novartis|Roche|UBS|Credit Suisse|Deutsche Bank|Commerzbank|Allianz|AXA|BNP Paribas|Société Générale|Santander|BBVA|HSBC|Barclays|Lloyds Banking Group|Goldman Sachs|Morgan Stanley|JPMorgan Chase|Citigroup|Wells Fargo|Bank of America|Berkshire Hathaway|BlackRock|Vanguard|Fidelity|Visa|Mastercard|PayPal|Stripe|Uber|Lyft|Airbnb|Tesla|SpaceX|General Motors|Ford|Boeing|Airbus|Lockheed Martin|Pfizer|Moderna|Johnson & Johnson|AstraZeneca|GlaxoSmithKline|Sanofi|Bayer|BASF|Reed Elsevier|Wolters Kluwer|Equifax|Experian|Moody's|Thomson Reuters|Bloomberg|Reuters|Associated Press|BBC|CNN|The New York Times|The Guardian|Le Monde|Der Spiegel|the United Nations|UNICEF|the World Bank|the World Health Organization|the European Commission|NATO|the Red Cross|Greenpeace|Amnesty International|Oxfam|Médecins Sans Frontières|Harvard University|Stanford University|MIT|Oxford University|the University of Cambridge|ETH Zürich|the Sorbonne|Karolinska Institutet|University of Helsinki|the Mayo Clinic|Kaiser Permanente|Deloitte|PwC|KPMG|Ernst & Young|McKinsey|Accenture|Capgemini|Infosys|Tata Consultancy Services|Wipro|Salesforce|Adobe|Nvidia|AMD|Qualcomm|Cisco|Dell|HP|Lenovo|Asus|Acer|Zalando|Rakuten|Mercado Libre|Shopify|Atlassian|Canva|Revolut|Klarna|N26|Monzo|Wise|Adyen|ING|Rabobank|ABN AMRO|Nordea|Danske Bank|Handelsbanken|DNB|Swedbank|Equinor|Statoil|Aker|Telenor|Telia|Vodafone|Orange|Deutsche Telekom|Telefónica|Ryanair|Lufthansa|KLM|Air France|Finnair|SAS|Emirates|Qatar Airways|DHL|FedEx|UPS|Maersk Line";
pub const ORG_SUFFIX: &str = "Inc|Inc.|LLC|Ltd|Ltd.|PLC|plc|GmbH|AG|SA|S.A.|BV|NV|Oy|AB|AS|A/S|SpA|S.r.l.|Corp|Corp.|Corporation|Co.|Company|Group|Holdings|Partners|Associates|and Sons|& Co.|Incorporated|Limited|Technologies|Solutions|Systems|Consulting|Labs|Analytics|Logistics|Industries|Enterprises|Ventures|Capital|Media|Foundation|Institute";
pub const ORG_HEADS: &str = "Blue|Red|Green|Silver|Golden|Northern|Southern|Eastern|Western|Pacific|Atlantic|Global|United|General|National|International|Royal|First|Prime|Apex|Summit|Pinnacle|Vertex|Quantum|Nova|Stellar|Bright|Clear|Swift|Rapid|Smart|Open|Urban|Alpine|Nordic|Baltic|Coastal|Harbor|River|Lake|Mountain|Sun|Star|Moon|Sky|Iron|Stone|Oak|Cedar|Maple|Pine";
pub const ORG_TAILS: &str = "Dynamics|Networks|Software|Bank|Insurance|Health|Care|Pharma|Energy|Power|Motors|Airlines|Foods|Brewing|Textiles|Steel|Mining|Shipping|Freight|Data|Cloud|Security|Robotics|Bioscience|Therapeutics|Medical|Partners|Realty|Properties|Hotels|Travel|Telecom|Broadcasting|Publishing|Press|Records|Studios|Games|Design|Architects|Engineering|Construction|Agency|Consulting|Advisors|Investments|Finance|Trust|Credit Union|Orchestra|Society|Club|Academy";

/// Honorifics, as the independent data writes them (TITLE).
pub const HONORIFICS: &str = "Mr.|Mrs.|Ms.|Miss|Dr.|Prof.|Mr|Mrs|Ms|Dr|Mx.|Sir|Dame|Lady|Lord|Rev.|Herr|Frau|Mme|M.|Sr.|Sra.";

/// Job titles (TITLE), in the style of occupational lists.
pub const JOBS: &str = "Midwife|Nurse|Dental nurse|Network administrator|Court clerk|Radiology technician|Electrical line installer|Animal technician|Booking clerk|Property manager|Labour relations officer|Software engineer|Senior software engineer|Data scientist|Product manager|Project manager|Marketing manager|Sales representative|Account executive|Financial analyst|Accountant|Chief financial officer|Chief executive officer|CEO|CFO|CTO|COO|Vice president of sales|Human resources manager|HR specialist|Recruiter|Office manager|Executive assistant|Administrative assistant|Receptionist|Customer service representative|Call center agent|Technical support engineer|Systems analyst|Database administrator|Web developer|Graphic designer|UX designer|Copywriter|Editor|Journalist|Photographer|Teacher|Professor|Lecturer|Librarian|School principal|Pharmacist|Physician|Surgeon|Dentist|Dental hygienist|Paramedic|Registered nurse|Physiotherapist|Psychologist|Social worker|Lawyer|Attorney|Paralegal|Judge|Police officer|Firefighter|Electrician|Plumber|Carpenter|Mechanic|Welder|Truck driver|Bus driver|Pilot|Flight attendant|Chef|Sous chef|Waiter|Bartender|Barista|Cashier|Store manager|Warehouse supervisor|Forklift operator|Logistics coordinator|Civil engineer|Mechanical engineer|Electrical engineer|Architect|Quantity surveyor|Real estate agent|Insurance underwriter|Loan officer|Bank teller|Investment banker|Economist|Statistician|Actuary|Research scientist|Lab technician|Veterinarian|Farm manager|Landscape gardener|Translator|Interpreter|Consultant|Management consultant|Operations manager|Supply chain analyst|Quality assurance tester|Security analyst|Penetration tester|DevOps engineer|Site reliability engineer|Machine learning engineer|Museum curator|Archivist|Musician|Actor|Film director|Producer|Sound engineer|Fitness instructor|Personal trainer|Dietitian|Optometrist|Radiographer|Sonographer|Speech therapist|Occupational therapist|Care worker|Housekeeper|Security guard|Janitor|Postal worker|Courier|Estate agent|Town planner|Surveyor|Geologist|Chemist|Physicist|Biologist|Meteorologist|Sales manager|Regional director|Managing director|Team lead|Head of marketing|Brand strategist|Community manager|Payroll clerk|Bookkeeper|Auditor|Tax adviser|Compliance officer|Risk manager|Claims adjuster";

/// Nationalities, religions and political groups (NRP).
pub const NATIONALITIES: &str = "American|British|English|Scottish|Welsh|Irish|Canadian|Mexican|Brazilian|Argentinian|Chilean|Peruvian|Colombian|Venezuelan|Cuban|Jamaican|French|German|Italian|Spanish|Portuguese|Dutch|Belgian|Swiss|Austrian|Danish|Swedish|Norwegian|Finnish|Icelandic|Estonian|Latvian|Lithuanian|Polish|Czech|Slovak|Hungarian|Romanian|Bulgarian|Greek|Cypriot|Turkish|Russian|Ukrainian|Belarusian|Serbian|Croatian|Slovenian|Bosnian|Albanian|Macedonian|Maltese|Chinese|Japanese|Korean|Vietnamese|Thai|Filipino|Indonesian|Malaysian|Singaporean|Indian|Pakistani|Bangladeshi|Sri Lankan|Nepalese|Afghan|Iranian|Iraqi|Syrian|Lebanese|Israeli|Palestinian|Jordanian|Saudi|Emirati|Qatari|Egyptian|Moroccan|Algerian|Tunisian|Libyan|Nigerian|Ghanaian|Kenyan|Ethiopian|Somali|South African|Zimbabwean|Ugandan|Tanzanian|Senegalese|Australian|New Zealander|Belizean|Ecuadorean|Bruneian|Greenlandic|Kazakh|Uzbek|Georgian|Armenian|Azerbaijani|Mongolian|Taiwanese|Tibetan|Kurdish|Basque|Catalan|Flemish|Sami|Maori";
pub const RELIGIONS: &str = "Christian|Catholic|Roman Catholic|Protestant|Orthodox|Lutheran|Anglican|Methodist|Baptist|Evangelical|Mormon|Muslim|Sunni|Shia|Shiite|Shiis|Jewish|Hindu|Buddhist|Sikh|Jain|Atheist|Agnostic|Quaker|Amish|Bahá'í|Zoroastrian";
pub const POLITICAL: &str = "Democrat|Democrats|Republican|Republicans|Conservative|Conservatives|Labour|Liberal|Liberals|Liberal Democrat|Socialist|Socialists|Communist|Communists|Green|Greens|Libertarian|Social Democrat|Social Democrats|Christian Democrat|Tory|Tories|Nationalist|Progressive";

/// Capitalised words and names that are not personal data: products, software, languages,
/// days, months, holidays, brands of things, landmarks and sentence-initial words.
pub const NON_ENTITIES: &str = "Python|Rust|Java|JavaScript|TypeScript|Excel|Word|PowerPoint|Outlook|Teams|Slack|Zoom|Windows|Linux|Ubuntu|macOS|Android|iOS|iPhone|iPad|MacBook|Kindle|PlayStation|Xbox|Nintendo Switch|Chrome|Firefox|Safari|Photoshop|Kubernetes|Docker|PostgreSQL|MySQL|SQLite|GitHub|Jira|Confluence|Bluetooth|Wi-Fi|USB|HDMI|PDF|JSON|HTML|CSS|SQL|API|ATM|PIN|FAQ|Wisdom|Discipline|Justice|Freedom|Love|Hope|Grace|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|April|June|July|August|September|October|November|December|Christmas|Easter|Ramadan|Diwali|Hanukkah|Thanksgiving|Halloween|New Year|Labor Day|Black Friday|Covid|COVID-19|Internet|Bible|Quran|Olympics|World Cup|Premier League|Champions League|Super Bowl|Nobel Prize|Oscar|Grammy|Eiffel Tower|Big Ben|Colosseum|Statue of Liberty|Golden Gate Bridge|Mount Everest|Milky Way|Mars|Jupiter|Earth|Moon|Sun";
