//! Synthetic training sentences: templates written for this project, filled from the lists in
//! [`super::lists`], with character spans for PERSON, LOCATION, ORGANIZATION, STREET_ADDRESS,
//! TITLE and NRP. Seeded: the same seed gives the same sentences on every machine.
//!
//! The templates are many and varied on purpose — chat messages, support tickets, e-mails,
//! forms, signatures, CV lines, news, reviews — and a fifth of them hold no entity at all, or
//! only capitalised words that are not personal data (weekdays, products, programming
//! languages, landmarks, sentence starts): the head must learn that a capital letter is not a
//! name. E-mail addresses, phone numbers and dates appear unlabelled, as the NER head does not
//! emit those types (the rule-based recognizers do).

use emmental_core::rng::SplitMix64;

use super::lists::{self, NameGroup, split};
use crate::Span;
use crate::metrics::SpanDoc;

/// Slots a template can hold, with the entity type they are labelled as.
const SLOTS: &[(&str, Option<&str>)] = &[
    ("PER", Some("PERSON")),
    ("FIRST", Some("PERSON")),
    ("LAST", Some("PERSON")),
    ("HON", Some("TITLE")),
    ("JOB", Some("TITLE")),
    ("CITY", Some("LOCATION")),
    ("COUNTRY", Some("LOCATION")),
    ("REGION", Some("LOCATION")),
    ("STATE", Some("LOCATION")),
    ("ORG", Some("ORGANIZATION")),
    ("STREET", Some("STREET_ADDRESS")),
    ("SEC", Some("STREET_ADDRESS")),
    ("ADDR", None), // several spans, see `address`
    ("NAT", Some("NRP")),
    ("REL", Some("NRP")),
    ("POL", Some("NRP")),
    ("NON", None),
    ("EMAIL", None),
    ("PHONE", None),
    ("DATE", None),
    ("DAY", None),
    ("NUM", None),
    ("ZIP", None),
    ("AGE", None),
];

/// Templates. `{SLOT}` is filled; everything else is literal text.
const TEMPLATES: &[&str] = &[
    // chat and support
    "Hi, my name is {PER} and I need help with my account.",
    "My name is {PER}",
    "I'm {FIRST}, nice to meet you!",
    "hey it's {FIRST} again, did you get my message?",
    "Can you transfer me to {PER} in billing?",
    "Please ask {HON} {LAST} to call me back at {PHONE}.",
    "This is {HON} {PER}, I called yesterday about my order.",
    "The parcel should go to {STREET}, {CITY}.",
    "I moved to {CITY} last month, please update my details.",
    "My new address is {ADDR}",
    "Please send the replacement card to {STREET}.",
    "Could you update the delivery address to {STREET} {SEC}?",
    "I'm travelling to {COUNTRY} on {DATE}, will my card work there?",
    "I used to live in {CITY} but now I'm based in {CITY}.",
    "Is the {ORG} branch on {STREET} open on {DAY}?",
    "I spoke with {FIRST} from your team and she said it was fixed.",
    "{FIRST} told me the refund would arrive by {DAY}.",
    "Why was my payment to {ORG} declined?",
    "I was charged twice by {ORG} on {DATE}.",
    "Please cancel my subscription, I'm moving to {COUNTRY}.",
    "Can {PER} be added as a second cardholder?",
    "My daughter {FIRST} needs her own account.",
    "I'd like to add {PER} as a beneficiary.",
    "The account is under my husband's name, {PER}.",
    "Who is {PER} and why are they on my statement?",
    "Bot: What's your full name? User: {PER}",
    "Bot: Where should we send it? User: {ADDR}",
    "User: I live in {CITY}, {COUNTRY}. Bot: Thanks, noted.",
    "Our technician {FIRST} will arrive between 9 and 11 on {DAY}.",
    "Hello {FIRST}, your appointment with {HON} {LAST} is confirmed for {DATE}.",
    "{HON} {LAST} will see you now.",
    "Thanks {FIRST}! Talk soon.",
    "ok {FIRST}, see you at {STREET} at 7",
    "lol {FIRST} you have to try the new {NAT} place near {STREET}",
    "Did {FIRST} and {FIRST} make it to {CITY} ok?",
    "i think {LAST} from accounting has the keys",
    // e-mails and letters
    "Dear {HON} {LAST},\n\nThank you for your letter of {DATE}. We will reply shortly.\n\nKind regards,\n{PER}\n{JOB}, {ORG}",
    "Dear {PER},\nYour order has shipped and will arrive at {ADDR} within three days.",
    "Hi {FIRST},\n\nPlease find attached the contract from {ORG}.\n\nBest,\n{FIRST}",
    "From: {PER} <{EMAIL}>\nTo: {PER}\nSubject: Meeting in {CITY}",
    "Please forward this to {PER} at {ORG}; her e-mail is {EMAIL}.",
    "{PER}\n{JOB}\n{ORG}\n{STREET}\n{CITY}\nTel: {PHONE}",
    "{PER}\n{ORG}\n{ADDR}\nMobile: {PHONE}",
    "Kind regards,\n{PER}\n{JOB} | {ORG}\n{PHONE}",
    "Sent on behalf of {HON} {PER}, {JOB}.",
    "Cheers, {FIRST}",
    // forms
    "Name: {PER}\nAddress: {STREET}\nCity: {CITY}\nCountry: {COUNTRY}",
    "Full name: {PER}\nDate of birth: {DATE}\nNationality: {NAT}",
    "Name: {PER}\nEmployer: {ORG}\nPosition: {JOB}",
    "Billing address:\n{PER}\n{ADDR}",
    "Shipping to: {PER}, {STREET}, {ZIP} {CITY}, {COUNTRY}",
    "Emergency contact: {PER} ({PHONE})",
    "Patient: {PER}, {AGE} years old, referred by {HON} {LAST}.",
    "Guardian: {PER}\nSchool: {ORG}",
    "Applicant: {PER}\nCurrent address: {ADDR}\nPhone: {PHONE}",
    "Religion: {REL}\nPolitical affiliation: {POL}",
    // CVs
    "{PER}\n{JOB}\n\nExperience\n{JOB}, {ORG}, {CITY} ({NUM}-{NUM})\n{JOB}, {ORG}",
    "Worked as {JOB} at {ORG} in {CITY} for five years.",
    "I am a {JOB} with ten years of experience at {ORG}.",
    "Currently {JOB} at {ORG}; previously at {ORG}.",
    "References available from {HON} {PER}, {ORG}.",
    "Education: {ORG}, {CITY}. Languages: {NAT} and English.",
    "Skills: {NON}, {NON}, project management.",
    // news and prose
    "{PER}, the {JOB} of {ORG}, said the company would open an office in {CITY}.",
    "{ORG} announced on {DAY} that {PER} will step down as {JOB}.",
    "Police in {CITY} are looking for {PER}, who was last seen on {STREET}.",
    "The {NAT} government said talks with {COUNTRY} would resume in {CITY}.",
    "{PER} was born in {CITY} and moved to {COUNTRY} as a child.",
    "According to {PER} of {ORG}, sales in {REGION} fell by a third.",
    "{ORG} and {ORG} agreed to merge, creating the largest firm in {COUNTRY}.",
    "The {POL} candidate {PER} won the vote in {REGION}.",
    "{PER}, a {AGE}-year-old {JOB} from {CITY}, was among the winners.",
    "Thousands of {REL} pilgrims gathered in {CITY} on {DAY}.",
    "The festival in {CITY} drew visitors from {COUNTRY} and {COUNTRY}.",
    "{HON} {PER} flew from {CITY} to {CITY} on {DAY} morning.",
    "The {ORG} orchestra will perform in {CITY} next spring.",
    "{PER} and {PER} founded {ORG} in a garage in {CITY}.",
    "Residents of {STREET} complained about the noise.",
    "The new library on {STREET} opens on {DATE}.",
    "A {NAT} tourist was rescued near {CITY} yesterday.",
    "{PER} joined {ORG} as {JOB} in {NUM}.",
    "Critics praised {PER}'s new novel, set in {CITY}.",
    "The song was written by {PER} and recorded with {PER} in {CITY}.",
    "{LAST} scored twice as {CITY} beat {CITY} 3-1.",
    "{PER}'s lawyers said the {ORG} report was wrong.",
    "Meet me at the corner of {STREET} and {STREET}.",
    "He lives on {STREET} near the station.",
    "They grew up in {CITY}, {STATE}.",
    "She is {NAT} but has lived in {COUNTRY} for years.",
    "We are proud {NAT} citizens.",
    "The {REL} community centre on {STREET} is open to all.",
    "Many {POL} voters in {REGION} stayed home.",
    "Our {NAT} neighbours invited us for dinner.",
    "He describes himself as a {REL} and a {POL}.",
    // reviews, social
    "Best coffee in {CITY}! Ask for {FIRST}, she's great.",
    "Stayed at the hotel on {STREET} in {CITY}, would recommend.",
    "Terrible service at {ORG}, the manager {PER} was rude.",
    "Shoutout to {FIRST} at the {CITY} store for the help!",
    "Just landed in {CITY}! {COUNTRY} here we come",
    "Happy birthday {FIRST}!!! See you in {CITY} next week",
    "@{FIRST} are you coming to {CITY} for the conference?",
    // mixed with other PII the NER head must not tag
    "My email is {EMAIL} and my phone is {PHONE}.",
    "Call me on {PHONE} after {DAY}.",
    "Contact {PER} at {EMAIL} or {PHONE}.",
    "{PER} ({EMAIL}) requested access on {DATE}.",
    "Invoice {NUM} from {ORG}, due {DATE}.",
    "Order {NUM} will be delivered to {STREET}, {ZIP} {CITY}.",
    // lists, quoted blocks, places in many roles
    "They had five children: {FIRST}, {FIRST}, {FIRST}, {FIRST} and {FIRST}.",
    "Invited: {PER}, {PER}, {PER} and {PER}.",
    "The shortlist was {ORG}, {ORG} and {ORG}.",
    "Suppliers include {ORG}, {ORG}, {ORG} and {ORG}.",
    "> {PER}\n> {ORG}\n> {ADDR}",
    ">{PER}\n>{JOB}\n>{ORG}\n>{STREET}\n>{CITY}",
    "{PER}\n\n{ADDR}",
    "{ORG}\n\n{ADDR}\nPhone: {PHONE}",
    "Meet me at the corner of {STREET} and {STREET} after work.",
    "I'm in {CITY} for a business trip until {DAY}.",
    "I'm originally from {CITY}, but I live in {CITY} now.",
    "{CITY} bridge is closed for repairs.",
    "{CITY} was super fun to visit!",
    "The orchestra serves Southern {COUNTRY} and parts of {REGION}.",
    "She studied law at the University of {CITY}.",
    "{PER} is the mayor of {CITY}.",
    "The economy of {CITY} depends on {ORG} and {ORG}.",
    "We drove from {CITY} to {CITY} through {REGION}.",
    "Flights to {CITY}, {COUNTRY} are delayed.",
    "Who's coming to {CITY} with me?",
    "He was elected in {STATE} in {NUM}.",
    "Weather warning for {REGION}: heavy snow near {CITY}.",
    "I work for {ORG}.",
    "{PER} is from {ORG}.",
    "{ORG} is a design agency based in {CITY}.",
    "{ORG} is an {NAT} bank with offices in {CITY}.",
    "The {ORG} office is at {STREET}.",
    "Our company, {ORG}, was founded by {PER} and {PER}.",
    "{PER} of {ORG} won the award; {PER} of {ORG} came second.",
    "I used to work for {ORG} as {JOB}, but I quit.",
    "Hello, this is {HON} {PER}. Who are you?",
    "Please correct the name on my card to {HON} {PER}.",
    "Directed by: {PER}\nStarring: {PER}, {PER}",
    "{FIRST}: Where were you?\n{FIRST}: At {FIRST}'s house in {CITY}.",
    // no entities, or capitalised words that are not personal data
    "What are my options?",
    "How do I reset my password?",
    "The meeting moved to {DAY} afternoon.",
    "We release on {DAY}; the {NON} build is ready.",
    "I use {NON} and {NON} every day at work.",
    "Does the app support {NON}?",
    "Please export the report as {NON}.",
    "Our team switched from {NON} to {NON} last year.",
    "Can I pay with {NON}?",
    "{NON} is not working on my laptop.",
    "The {NON} update broke my settings.",
    "Happy {NON} to everyone!",
    "See you on {DAY}.",
    "Is the office closed on {DAY}?",
    "The Eiffel Tower is tall and the Colosseum is old.",
    "Monday is a holiday, so the bank opens on Tuesday.",
    "Python and Rust are both good languages.",
    "The Golden Gate Bridge was painted orange.",
    "Capitalized Words Like Wisdom And Discipline Are Not Names.",
    "WHY IS MY CARD NOT WORKING???",
    "Thank you so much, this was really helpful.",
    "I can't log in since the last update.",
    "Please cancel my order, I changed my mind.",
    "The Quick Brown Fox Jumps Over The Lazy Dog.",
    "Great Product, Fast Delivery, Would Buy Again.",
    "Black Friday deals start on Thursday.",
    "Chapter One: The Beginning",
    "Terms and Conditions apply. See Section 4 for details.",
    "Welcome to the Help Center. How can we help you today?",
    "The Board approved the Annual Report in March.",
    "Customer Service will respond within two Business Days.",
    "Ask the Pharmacist about side effects.",
    "The Senior Developer role requires five years of experience.",
    "It was a sunny day and the park was full.",
    "I need a receipt for my expenses.",
    "The river flooded after heavy rain.",
    "Remember to bring your ID and a pen.",
];

/// How a generated value was produced: its text and the spans inside it (offsets in chars,
/// relative to the value).
struct Value {
    text: String,
    spans: Vec<(usize, usize, &'static str)>,
}

impl Value {
    fn plain(text: String) -> Self {
        Self {
            text,
            spans: Vec::new(),
        }
    }
    fn whole(text: String, kind: &'static str) -> Self {
        let n = text.chars().count();
        Self {
            text,
            spans: vec![(0, n, kind)],
        }
    }
}

/// Builds value strings from parts, recording which parts are spans.
struct Builder {
    text: String,
    spans: Vec<(usize, usize, &'static str)>,
}

impl Builder {
    fn new() -> Self {
        Self {
            text: String::new(),
            spans: Vec::new(),
        }
    }
    fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }
    fn span(&mut self, s: &str, kind: &'static str) -> &mut Self {
        let start = self.text.chars().count();
        self.text.push_str(s);
        self.spans.push((start, start + s.chars().count(), kind));
        self
    }
    fn value(self) -> Value {
        Value {
            text: self.text,
            spans: self.spans,
        }
    }
}

/// Picks from a list field of the generator (a macro: the field and the random source are
/// borrowed separately).
macro_rules! pick {
    ($g:expr, $($field:ident).+) => {{
        let n = $g.$($field).+.len();
        $g.$($field).+[$g.rng.below(n)]
    }};
}

/// The generator: lists loaded once, a seeded random source.
pub struct Generator {
    rng: SplitMix64,
    names: Vec<NameGroup>,
    cities: Vec<&'static str>,
    foreign_cities: Vec<&'static str>,
    countries: Vec<&'static str>,
    regions: Vec<&'static str>,
    states: Vec<&'static str>,
    state_codes: Vec<&'static str>,
    orgs: Vec<&'static str>,
    org_suffix: Vec<&'static str>,
    org_heads: Vec<&'static str>,
    org_tails: Vec<&'static str>,
    honorifics: Vec<&'static str>,
    jobs: Vec<&'static str>,
    nationalities: Vec<&'static str>,
    religions: Vec<&'static str>,
    political: Vec<&'static str>,
    non_entities: Vec<&'static str>,
    streets: StreetLists,
}

struct StreetLists {
    en: Vec<&'static str>,
    en_suffix: Vec<&'static str>,
    nordic: Vec<&'static str>,
    nordic_suffix: Vec<&'static str>,
    de: Vec<&'static str>,
    de_suffix: Vec<&'static str>,
    romance: Vec<&'static str>,
    romance_prefix: Vec<&'static str>,
    east: Vec<&'static str>,
    east_prefix: Vec<&'static str>,
    secondary: Vec<&'static str>,
}

impl Generator {
    pub fn new(seed: u64) -> Self {
        Self {
            rng: SplitMix64::new(seed),
            names: lists::name_groups(),
            cities: split(lists::CITIES),
            foreign_cities: split(lists::CITIES_OTHER_SCRIPTS),
            countries: lists::countries(),
            regions: split(lists::REGIONS),
            states: lists::us_states(),
            state_codes: lists::state_codes(),
            orgs: split(lists::ORGS_KNOWN),
            org_suffix: split(lists::ORG_SUFFIX),
            org_heads: split(lists::ORG_HEADS),
            org_tails: split(lists::ORG_TAILS),
            honorifics: split(lists::HONORIFICS),
            jobs: split(lists::JOBS),
            nationalities: split(lists::NATIONALITIES),
            religions: split(lists::RELIGIONS),
            political: split(lists::POLITICAL),
            non_entities: split(lists::NON_ENTITIES),
            streets: StreetLists {
                en: split(lists::STREET_STEMS_EN),
                en_suffix: split(lists::STREET_SUFFIX_EN),
                nordic: split(lists::STREET_STEMS_NORDIC),
                nordic_suffix: split(lists::STREET_SUFFIX_NORDIC),
                de: split(lists::STREET_STEMS_DE),
                de_suffix: split(lists::STREET_SUFFIX_DE),
                romance: split(lists::STREET_NAMES_ROMANCE),
                romance_prefix: split(lists::STREET_PREFIX_ROMANCE),
                east: split(lists::STREET_NAMES_EAST),
                east_prefix: split(lists::STREET_PREFIX_EAST),
                secondary: split(lists::SECONDARY),
            },
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        self.rng.next_f64() < p
    }

    fn num(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.rng.below(hi - lo + 1)
    }

    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.rng.below(10) as u8))
            .collect()
    }

    /// Case variants seen in real data: CAPITALS (forms, old databases), lower case (chat).
    fn recase(&mut self, s: &str, upper: f64, lower: f64) -> String {
        let r = self.rng.next_f64();
        if r < upper {
            s.to_uppercase()
        } else if r < upper + lower {
            s.to_lowercase()
        } else {
            s.to_string()
        }
    }

    fn name_group(&mut self) -> usize {
        self.rng.below(self.names.len())
    }

    fn first(&mut self, g: usize) -> &'static str {
        let n = self.names[g].first.len();
        self.names[g].first[self.rng.below(n)]
    }

    fn last(&mut self, g: usize) -> &'static str {
        let n = self.names[g].last.len();
        self.names[g].last[self.rng.below(n)]
    }

    fn person(&mut self) -> String {
        let g = self.name_group();
        let (f, l) = (self.first(g), self.last(g));
        let name = match self.rng.below(20) {
            0..=11 => format!("{f} {l}"),
            12 => {
                let m = self.first(g).chars().next().unwrap_or('A');
                format!("{f} {m}. {l}")
            }
            13 | 14 => format!("{f} {} {l}", self.first(g)),
            15 => format!("{f} {l}-{}", self.last(g)),
            16 => format!("{l}, {f}"),
            17 => format!(
                "{f} {l} {}",
                ["Jr.", "Sr.", "III", "PhD", "MD"][self.rng.below(5)]
            ),
            _ => format!("{f} {l}"),
        };
        self.recase(&name, 0.04, 0.04)
    }

    fn org(&mut self) -> String {
        let g = self.name_group();
        let name = match self.rng.below(20) {
            0..=6 => pick!(self, orgs).to_string(),
            7 | 8 => format!("{} {}", self.last(g), pick!(self, org_suffix)),
            9 | 10 => format!("{}, {} and {}", self.last(g), self.last(g), self.last(g)),
            11 | 12 => format!("{}-{}", self.last(g), self.last(g)),
            13 => format!("{} and {}", self.last(g), self.last(g)),
            14 | 15 => {
                let (h, t) = (pick!(self, org_heads), pick!(self, org_tails));
                format!("{h} {t}")
            }
            16 => {
                let (h, t) = (pick!(self, org_heads), pick!(self, org_tails));
                match self.rng.below(3) {
                    0 => format!("{h}{}", t.to_lowercase()),
                    1 => format!("{}{}", self.last(g), t.to_lowercase()),
                    _ => format!("{h}{}", self.last(g).to_lowercase()),
                }
            }
            17 => {
                let (h, t, s) = (
                    pick!(self, org_heads),
                    pick!(self, org_tails),
                    pick!(self, org_suffix),
                );
                format!("{h} {t} {s}")
            }
            18 => format!("{} {}", self.last(g), pick!(self, org_tails)),
            _ => format!("{} & {}", self.last(g), self.last(g)),
        };
        self.recase(&name, 0.02, 0.05)
    }

    fn city(&mut self) -> String {
        let c = match self.rng.below(10) {
            // Invented town names in the shapes real ones take ("Pudičmouth", "Port O'Warren").
            0 => {
                let g = self.name_group();
                let l = self.last(g);
                match self.rng.below(6) {
                    0 => format!(
                        "{l}{}",
                        [
                            "ville", "mouth", "burgh", "ton", "field", "borough", "stad", "dorf"
                        ][self.rng.below(8)]
                    ),
                    1 => format!("Port {l}"),
                    2 => format!("{l} Beach"),
                    3 => format!(
                        "{} {l}",
                        ["North", "South", "East", "West", "New", "Mount", "Lake"]
                            [self.rng.below(7)]
                    ),
                    4 => format!("{l} Springs"),
                    _ => format!(
                        "{l}{}",
                        ["by", "heim", "holm", "berg", "stead"][self.rng.below(5)]
                    ),
                }
            }
            1 if self.chance(0.3) => pick!(self, foreign_cities).to_string(),
            _ => pick!(self, cities).to_string(),
        };
        self.recase(&c, 0.15, 0.03)
    }

    fn street(&mut self) -> String {
        let n = self.num(1, 9999);
        let small = self.num(1, 250);
        let street = match self.rng.below(12) {
            0..=3 => format!(
                "{n} {} {}",
                pick!(self, streets.en),
                pick!(self, streets.en_suffix)
            ),
            4 => {
                let g = self.name_group();
                format!("{n} {} {}", self.last(g), pick!(self, streets.en_suffix))
            }
            5 | 6 => format!(
                "{}{} {small}",
                pick!(self, streets.nordic),
                pick!(self, streets.nordic_suffix)
            ),
            7 => format!(
                "{}{} {small}",
                pick!(self, streets.de),
                pick!(self, streets.de_suffix)
            ),
            8 => format!(
                "{small} {} {}",
                pick!(self, streets.romance_prefix),
                pick!(self, streets.romance)
            ),
            9 => format!(
                "{} {} {small}",
                pick!(self, streets.romance_prefix),
                pick!(self, streets.romance)
            ),
            10 => format!(
                "{} {} {small}",
                pick!(self, streets.east_prefix),
                pick!(self, streets.east)
            ),
            _ => format!(
                "{} {} {small}.",
                pick!(self, streets.east),
                pick!(self, streets.east_prefix)
            ),
        };
        if self.chance(0.04) {
            let g = self.name_group();
            let other = format!("{} {}", self.last(g), pick!(self, streets.en_suffix));
            return format!("the corner of {street} and {other}");
        }
        let street = if self.chance(0.15) {
            format!("{street} {}", self.secondary())
        } else {
            street
        };
        self.recase(&street, 0.04, 0.06)
    }

    fn secondary(&mut self) -> String {
        let s = pick!(self, streets.secondary);
        format!("{s} {}", self.num(1, 999))
    }

    fn zip(&mut self) -> String {
        match self.rng.below(4) {
            0 => self.digits(5),
            1 => self.digits(4),
            2 => format!("{} {}", self.digits(3), self.digits(2)),
            _ => format!("{}-{}", self.digits(5), self.digits(4)),
        }
    }

    /// A full postal address over several lines or one. Half of them are one STREET_ADDRESS
    /// span (as much of the reference data labels them), half are street, town and country
    /// as separate spans.
    fn address(&mut self) -> Value {
        let street = self.street();
        let city = self.city();
        let country = pick!(self, countries).to_string();
        let zip = self.zip();
        let state = pick!(self, state_codes).to_string();
        let sec = self.secondary();
        if self.chance(0.5) {
            let text = match self.rng.below(4) {
                0 => format!("{street}\n{city}, {state} {zip}"),
                1 => format!("{street}, {zip} {city}, {country}"),
                2 => format!("{street}\n {sec}\n {city}\n {country} {zip}"),
                _ => format!("{street} {sec}, {city}, {country} {zip}"),
            };
            return Value::whole(text, "STREET_ADDRESS");
        }
        let mut b = Builder::new();
        match self.rng.below(4) {
            0 => {
                b.span(&street, "STREET_ADDRESS")
                    .push(", ")
                    .push(&zip)
                    .push(" ")
                    .span(&city, "LOCATION");
            }
            1 => {
                b.span(&street, "STREET_ADDRESS")
                    .push("\n")
                    .span(&city, "LOCATION")
                    .push(", ")
                    .span(&state, "LOCATION")
                    .push(" ")
                    .push(&zip);
            }
            2 => {
                b.span(&street, "STREET_ADDRESS")
                    .push("\n ")
                    .span(&sec, "STREET_ADDRESS")
                    .push("\n ")
                    .span(&city, "LOCATION")
                    .push("\n ")
                    .span(&country, "LOCATION")
                    .push(" ")
                    .push(&zip);
            }
            _ => {
                b.span(&street, "STREET_ADDRESS")
                    .push(", ")
                    .span(&city, "LOCATION")
                    .push(", ")
                    .span(&country, "LOCATION");
            }
        }
        b.value()
    }

    fn email(&mut self) -> String {
        let g = self.name_group();
        let (f, l) = (self.first(g), self.last(g));
        let ascii = |s: &str| -> String {
            s.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_lowercase()
        };
        let domain = [
            "example.com",
            "mail.example.org",
            "post.example.net",
            "corp.example.io",
        ][self.rng.below(4)];
        format!("{}.{}@{domain}", ascii(f), ascii(l))
    }

    fn phone(&mut self) -> String {
        match self.rng.below(3) {
            0 => format!(
                "+{} {} {} {}",
                self.num(1, 99),
                self.digits(3),
                self.digits(3),
                self.digits(4)
            ),
            1 => format!("({}) {}-{}", self.digits(3), self.digits(3), self.digits(4)),
            _ => format!("0{} {}", self.digits(4), self.digits(6)),
        }
    }

    fn date(&mut self) -> String {
        let months = ["January", "March", "May", "July", "October", "December"];
        match self.rng.below(3) {
            0 => format!(
                "{} {} {}",
                self.num(1, 28),
                months[self.rng.below(6)],
                self.num(1950, 2025)
            ),
            1 => format!(
                "{}-{:02}-{:02}",
                self.num(1950, 2025),
                self.num(1, 12),
                self.num(1, 28)
            ),
            _ => format!(
                "{}/{}/{}",
                self.num(1, 12),
                self.num(1, 28),
                self.num(1950, 2025)
            ),
        }
    }

    fn fill(&mut self, slot: &str) -> Value {
        let kind = SLOTS.iter().find(|s| s.0 == slot).and_then(|s| s.1);
        let text = match slot {
            "PER" => self.person(),
            "FIRST" => {
                let g = self.name_group();
                let f = self.first(g);
                self.recase(f, 0.02, 0.05)
            }
            "LAST" => {
                let g = self.name_group();
                self.last(g).to_string()
            }
            "HON" => {
                let h = pick!(self, honorifics);
                self.recase(h, 0.0, 0.08)
            }
            "JOB" => {
                let j = pick!(self, jobs);
                self.recase(j, 0.02, 0.3)
            }
            "CITY" => self.city(),
            "COUNTRY" => pick!(self, countries).to_string(),
            "REGION" => pick!(self, regions).to_string(),
            "STATE" => pick!(self, states).to_string(),
            "ORG" => self.org(),
            "STREET" => self.street(),
            "SEC" => self.secondary(),
            "ADDR" => return self.address(),
            "NAT" => {
                let n = pick!(self, nationalities);
                self.recase(n, 0.0, 0.1)
            }
            "REL" => pick!(self, religions).to_string(),
            "POL" => pick!(self, political).to_string(),
            "NON" => pick!(self, non_entities).to_string(),
            "EMAIL" => self.email(),
            "PHONE" => self.phone(),
            "DATE" => self.date(),
            "DAY" => [
                "Monday",
                "Tuesday",
                "Wednesday",
                "Thursday",
                "Friday",
                "Saturday",
                "Sunday",
            ][self.rng.below(7)]
            .to_string(),
            "NUM" => self.num(1990, 2024).to_string(),
            "ZIP" => self.zip(),
            "AGE" => self.num(18, 90).to_string(),
            other => unreachable!("template slot {other} is not in SLOTS"),
        };
        match kind {
            Some(k) => Value::whole(text, k),
            None => Value::plain(text),
        }
    }

    /// One sentence from template `t`.
    fn render(&mut self, template: &str) -> SpanDoc {
        let mut text = String::new();
        let mut chars = 0usize;
        let mut spans: Vec<(usize, usize, &'static str)> = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let literal = &rest[..open];
            text.push_str(literal);
            chars += literal.chars().count();
            let close = open + rest[open..].find('}').expect("templates close their slots");
            let v = self.fill(&rest[open + 1..close]);
            spans.extend(v.spans.iter().map(|&(s, e, k)| (chars + s, chars + e, k)));
            chars += v.text.chars().count();
            text.push_str(&v.text);
            rest = &rest[close + 1..];
        }
        text.push_str(rest);
        // Whole-sentence case variants: chat in lower case, shouting in capitals.
        let r = self.rng.next_f64();
        let recased = if r < 0.04 {
            Some(text.to_lowercase())
        } else if r < 0.06 {
            Some(text.to_uppercase())
        } else {
            None
        };
        // A case change can change the length in characters (ß → SS); then the spans would
        // no longer fit, and the sentence keeps its case.
        if let Some(r) = recased.filter(|r| r.chars().count() == chars + rest.chars().count()) {
            text = r;
        }
        let spans = spans
            .into_iter()
            .map(|(s, e, k)| Span::from_chars(&text, s, e, k, 1.0))
            .collect();
        SpanDoc { text, spans }
    }

    /// The next sentence.
    pub fn sentence(&mut self) -> SpanDoc {
        let t = TEMPLATES[self.rng.below(TEMPLATES.len())];
        self.render(t)
    }
}

/// `n` sentences from `seed`.
pub fn generate(seed: u64, n: usize) -> Vec<SpanDoc> {
    let mut g = Generator::new(seed);
    (0..n).map(|_| g.sentence()).collect()
}

/// Number of templates (for the training record).
pub fn template_count() -> usize {
    TEMPLATES.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sentences_and_spans_fit() {
        let a = generate(7, 300);
        let b = generate(7, 300);
        assert_eq!(
            a.iter().map(|d| &d.text).collect::<Vec<_>>(),
            b.iter().map(|d| &d.text).collect::<Vec<_>>()
        );
        assert_ne!(generate(8, 5)[0].text, a[0].text);
        let mut kinds = std::collections::BTreeSet::new();
        for d in &a {
            for s in &d.spans {
                assert!(s.end <= d.text.chars().count());
                assert_eq!(
                    s.text(&d.text).trim(),
                    s.text(&d.text),
                    "{:?} in {:?}",
                    s,
                    d.text
                );
                kinds.insert(s.kind.clone());
            }
        }
        for k in [
            "PERSON",
            "LOCATION",
            "ORGANIZATION",
            "STREET_ADDRESS",
            "TITLE",
            "NRP",
        ] {
            assert!(kinds.contains(k), "no {k} in 300 sentences");
        }
        let empty = a.iter().filter(|d| d.spans.is_empty()).count();
        assert!(empty > 20, "sentences without entities: {empty}");
    }

    #[test]
    fn every_template_slot_is_known() {
        for t in TEMPLATES {
            let mut rest = *t;
            while let Some(o) = rest.find('{') {
                let c = o + rest[o..].find('}').unwrap();
                let slot = &rest[o + 1..c];
                assert!(
                    SLOTS.iter().any(|s| s.0 == slot),
                    "unknown slot {slot} in {t:?}"
                );
                rest = &rest[c + 1..];
            }
        }
    }
}
