//! The *International AI Safety Report*'s sections, with stable ids (interim report, May 2024;
//! the full report, arXiv 2501.17805, keeps the same areas). Every suite, scorer, attack and
//! scanner names the sections it serves, e.g. `report = ["4.1.1"]`.

use serde::Serialize;

/// One section of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Section {
    /// Stable dotted id, e.g. `4.1.1`.
    pub id: &'static str,
    pub title: &'static str,
}

impl Section {
    /// The enclosing section (`4.1.1` → `4.1`), or `None` for a top-level chapter.
    pub fn parent(&self) -> Option<&'static Section> {
        let (head, _) = self.id.rsplit_once('.')?;
        section(head)
    }
    /// Nesting depth: 1 for a chapter, 2 for a section, 3 for a subsection.
    pub fn depth(&self) -> usize {
        self.id.split('.').count()
    }
}

macro_rules! sections {
    ($($id:literal => $title:literal,)*) => {
        /// Every section, in document order.
        pub const SECTIONS: &[Section] = &[$(Section { id: $id, title: $title },)*];
    };
}

sections! {
    "2" => "Capabilities",
    "2.1" => "How general-purpose AI gains its capabilities",
    "2.2" => "What current general-purpose AI systems are capable of",
    "2.3" => "Recent trends in capabilities and their drivers",
    "2.4" => "Capability progress in coming years",
    "3" => "Methodology to assess and understand general-purpose AI systems",
    "3.1" => "Assessments of model capabilities and impacts",
    "3.2" => "Approaches for model performance analysis",
    "3.2.1" => "Case studies",
    "3.2.2" => "Benchmarks",
    "3.2.3" => "Red-teaming and adversarial attacks",
    "3.2.4" => "Auditing",
    "3.3" => "Model transparency, explanations and interpretations",
    "3.4" => "Challenges with studying general-purpose AI systems",
    "4" => "Risks",
    "4.1" => "Malicious use risks",
    "4.1.1" => "Harm to individuals through fake content",
    "4.1.2" => "Disinformation and manipulation of public opinion",
    "4.1.3" => "Cyber offence",
    "4.1.4" => "Dual-use science risks",
    "4.2" => "Risks from malfunctions",
    "4.2.1" => "Risks from product functionality issues",
    "4.2.2" => "Risks from bias and underrepresentation",
    "4.2.3" => "Loss of control",
    "4.3" => "Systemic risks",
    "4.3.1" => "Labour market risks",
    "4.3.2" => "Global AI divide",
    "4.3.3" => "Market concentration and single points of failure",
    "4.3.4" => "Risks to the environment",
    "4.3.5" => "Risks to privacy",
    "4.3.6" => "Copyright infringement",
    "4.4" => "Cross-cutting risk factors",
    "4.4.1" => "Cross-cutting technical risk factors",
    "4.4.2" => "Cross-cutting societal risk factors",
    "5" => "Technical approaches to mitigate risks",
    "5.1" => "Risk management and safety engineering",
    "5.2" => "Training more trustworthy models",
    "5.3" => "Monitoring and intervention",
    "5.4" => "Fairness and representation",
    "5.5" => "Privacy methods",
}

/// Looks a section up by id (`"4.1.1"`); a leading `§` is accepted.
pub fn section(id: &str) -> Option<&'static Section> {
    let id = id.trim().trim_start_matches('§');
    SECTIONS.iter().find(|s| s.id == id)
}

/// The direct subsections of `id`, in document order.
pub fn children(id: &str) -> impl Iterator<Item = &'static Section> + '_ {
    SECTIONS
        .iter()
        .filter(move |s| s.id.rsplit_once('.').is_some_and(|(head, _)| head == id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_every_parent_exists() {
        let mut seen = std::collections::HashSet::new();
        for s in SECTIONS {
            assert!(seen.insert(s.id), "duplicate id {}", s.id);
            assert!(!s.title.is_empty());
            if s.depth() > 1 {
                assert!(s.parent().is_some(), "{} has no parent", s.id);
            }
        }
    }

    #[test]
    fn sections_named_in_the_design_exist() {
        for id in [
            "2", "3", "4.1.1", "4.1.2", "4.1.3", "4.1.4", "4.2.1", "4.2.2", "4.2.3", "4.3.1",
            "4.3.2", "4.3.3", "4.3.4", "4.3.5", "4.3.6", "5.1", "5.2", "5.3", "5.4", "5.5",
        ] {
            assert!(section(id).is_some(), "missing {id}");
        }
        assert_eq!(section("§4.3.5").unwrap().title, "Risks to privacy");
        assert!(section("4.9").is_none());
    }

    #[test]
    fn children_are_listed_in_order() {
        let ids: Vec<_> = children("4.1").map(|s| s.id).collect();
        assert_eq!(ids, ["4.1.1", "4.1.2", "4.1.3", "4.1.4"]);
        assert_eq!(children("4.3").count(), 6);
    }
}
