//! The reviewed list of findings each design is known to have (`expected-findings.toml`):
//! what `check` may find and still pass. A design's known findings (9.6's refusal to restart
//! after a crash during an exclusive backup, 15's history files written without fsync, ...)
//! would otherwise make every gate run of that design fail, and hide anything new behind
//! them. With the list, `check` passes when the model finds exactly the listed findings, with
//! the listed shortest lengths, and fails when anything new appears, a listed finding changes
//! length, or a listed finding is no longer found; the simulator goes past the listed
//! properties (they do not end a run) to look for anything else.
//!
//! ```toml
//! [[finding]]
//! variant = "pg96"
//! profile = "faults"                 # a model profile, or "sim" for the simulator
//! property = "restart succeeds"
//! length = 15                        # the model's shortest counterexample, in steps
//! why = "a crash during an exclusive backup ... (PROTOCOL.md section 5)"
//! ```

use backup_coordinator::incremental::cluster::IncrementalProperty;
use backup_coordinator::invariants::{Property, PropertySet, EVERY_BACKUP_ENDS};
use backup_coordinator::Variant;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The file's name in the repository root.
pub const FILE_NAME: &str = "expected-findings.toml";

/// One known finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFinding {
    /// The variant (`pg96`, `pg16`, `pg96+b5`).
    pub variant: String,
    /// A model profile (`concurrency`, `faults`, ...), or `sim`.
    pub profile: String,
    /// The property's name, as reports print it.
    pub property: String,
    /// The model's shortest counterexample, in steps (model profiles only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    /// Why it is expected: the flaw, its era, where it is documented.
    pub why: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileContent {
    #[serde(default, rename = "finding")]
    findings: Vec<ExpectedFinding>,
}

/// The known findings of every design.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpectedFindings {
    /// Where they were read from (`None`: none were given).
    pub file: Option<PathBuf>,
    /// The findings, in file order.
    pub findings: Vec<ExpectedFinding>,
}

/// Why the file cannot be used.
#[derive(Debug, Error)]
pub enum ExpectedError {
    /// It cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not valid TOML of this form.
    #[error("{path} is not a valid list of expected findings: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// An entry names something that does not exist.
    #[error("{path}: finding {index} ({variant}, {property}): {problem}")]
    Entry {
        /// The file.
        path: PathBuf,
        /// The entry's number, from 1.
        index: usize,
        /// Its variant.
        variant: String,
        /// Its property.
        property: String,
        /// What is wrong.
        problem: String,
    },
}

/// Whether `name` is a property a report can name.
pub fn is_property_name(name: &str) -> bool {
    name == EVERY_BACKUP_ENDS
        || Property::ALL.iter().any(|p| p.name() == name)
        || IncrementalProperty::ALWAYS
            .into_iter()
            .chain([IncrementalProperty::EVENTUALLY])
            .any(|p| p.name() == name)
}

impl ExpectedFindings {
    /// Reads and checks `path`. `profiles` are the model profiles an entry may name.
    pub fn load(path: &Path, profiles: &[&str]) -> Result<Self, ExpectedError> {
        let text = std::fs::read_to_string(path).map_err(|source| ExpectedError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text, profiles)
    }

    /// Parses `text` (read from `path`).
    pub fn parse(path: &Path, text: &str, profiles: &[&str]) -> Result<Self, ExpectedError> {
        let content: FileContent = toml::from_str(text).map_err(|e| ExpectedError::Malformed {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        for (i, f) in content.findings.iter().enumerate() {
            let problem = if f.variant.parse::<Variant>().is_err() {
                Some(format!("unknown variant {:?}", f.variant))
            } else if !is_property_name(&f.property) {
                Some(format!("unknown property {:?}", f.property))
            } else if f.profile != "sim" && !profiles.contains(&f.profile.as_str()) {
                Some(format!(
                    "unknown profile {:?}: expected sim or one of {}",
                    f.profile,
                    profiles.join(", ")
                ))
            } else if f.profile != "sim" && f.length.is_none() {
                Some("a model finding needs its shortest length".to_string())
            } else {
                None
            };
            if let Some(problem) = problem {
                return Err(ExpectedError::Entry {
                    path: path.to_path_buf(),
                    index: i + 1,
                    variant: f.variant.clone(),
                    property: f.property.clone(),
                    problem,
                });
            }
        }
        Ok(ExpectedFindings {
            file: Some(path.to_path_buf()),
            findings: content.findings,
        })
    }

    /// The findings of `variant`.
    pub fn of(&self, variant: Variant) -> impl Iterator<Item = &ExpectedFinding> {
        let name = variant.to_string();
        self.findings.iter().filter(move |f| f.variant == name)
    }

    /// The safety properties `variant` is known to break anywhere: runs of the simulator go
    /// past them.
    pub fn known_properties(&self, variant: Variant) -> PropertySet {
        self.of(variant)
            .filter_map(|f| Property::ALL.into_iter().find(|p| p.name() == f.property))
            .collect()
    }

    /// Whether the simulator may report `property` for `variant` (listed for it, in any
    /// profile).
    pub fn known_in_sim(&self, variant: Variant, property: &str) -> bool {
        self.of(variant).any(|f| f.property == property)
    }
}

/// How one model profile's findings compare with the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Comparison {
    /// Listed, found, same length.
    Known {
        /// The property.
        property: String,
        /// Its length.
        length: usize,
    },
    /// Found but not listed: a new finding.
    New {
        /// The property.
        property: String,
        /// Its length.
        length: usize,
    },
    /// Listed and found, with another length.
    Changed {
        /// The property.
        property: String,
        /// Found.
        length: usize,
        /// Listed.
        expected: usize,
    },
    /// Listed but not found.
    Missing {
        /// The property.
        property: String,
        /// Listed length.
        expected: usize,
    },
}

impl Comparison {
    /// Whether the gate may pass with it.
    pub fn is_known(&self) -> bool {
        matches!(self, Comparison::Known { .. })
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            Comparison::Known { property, length } => {
                format!("{property}: known finding ({length} steps), as listed")
            }
            Comparison::New { property, length } => {
                format!("{property}: NEW finding, shortest counterexample {length} steps")
            }
            Comparison::Changed {
                property,
                length,
                expected,
            } => format!(
                "{property}: known finding CHANGED: shortest counterexample {length} steps, listed {expected}"
            ),
            Comparison::Missing { property, expected } => format!(
                "{property}: listed finding ({expected} steps) NOT FOUND any more: review the list"
            ),
        }
    }
}

/// Compares what one model profile found (`(property, shortest length)`) with the list.
pub fn compare(
    expected: &ExpectedFindings,
    variant: Variant,
    profile: &str,
    found: &[(String, usize)],
) -> Vec<Comparison> {
    let listed: Vec<&ExpectedFinding> = expected
        .of(variant)
        .filter(|f| f.profile == profile)
        .collect();
    let mut out = Vec::new();
    for (property, length) in found {
        let length = *length;
        let property = property.clone();
        out.push(match listed.iter().find(|f| f.property == property) {
            None => Comparison::New { property, length },
            Some(f) if f.length == Some(length) => Comparison::Known { property, length },
            Some(f) => Comparison::Changed {
                property,
                length,
                expected: f.length.unwrap_or(0),
            },
        });
    }
    for f in listed {
        if !found.iter().any(|(p, _)| *p == f.property) {
            out.push(Comparison::Missing {
                property: f.property.clone(),
                expected: f.length.unwrap_or(0),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILES: [&str; 2] = ["concurrency", "faults"];

    fn list(text: &str) -> ExpectedFindings {
        ExpectedFindings::parse(Path::new("x.toml"), text, &PROFILES).unwrap()
    }

    #[test]
    fn known_new_changed_and_missing_findings_are_told_apart() {
        let expected = list(
            r#"
            [[finding]]
            variant = "pg96"
            profile = "faults"
            property = "restart succeeds"
            length = 15
            why = "exclusive backups"

            [[finding]]
            variant = "pg96"
            profile = "faults"
            property = "assertions hold"
            length = 9
            why = "made up"
            "#,
        );
        let variant: Variant = "pg96".parse().unwrap();
        let found = vec![
            ("restart succeeds".to_string(), 15),
            ("unique start points".to_string(), 16),
        ];
        let compared = compare(&expected, variant, "faults", &found);
        assert_eq!(
            compared,
            vec![
                Comparison::Known {
                    property: "restart succeeds".into(),
                    length: 15
                },
                Comparison::New {
                    property: "unique start points".into(),
                    length: 16
                },
                Comparison::Missing {
                    property: "assertions hold".into(),
                    expected: 9
                },
            ]
        );
        let changed = compare(
            &expected,
            variant,
            "faults",
            &[
                ("restart succeeds".to_string(), 14),
                ("assertions hold".to_string(), 9),
            ],
        );
        assert!(matches!(
            changed[0],
            Comparison::Changed { expected: 15, .. }
        ));
        assert!(changed[1].is_known());
        assert!(compare(&expected, variant, "concurrency", &[]).is_empty());
        assert!(expected
            .known_properties(variant)
            .contains(Property::RestartSucceeds));
    }

    #[test]
    fn entries_naming_what_does_not_exist_are_refused() {
        for (text, needle) in [
            (
                "[[finding]]\nvariant = \"pg99\"\nprofile = \"faults\"\nproperty = \"restart succeeds\"\nlength = 1\nwhy = \"\"\n",
                "unknown variant",
            ),
            (
                "[[finding]]\nvariant = \"pg96\"\nprofile = \"faults\"\nproperty = \"restarts\"\nlength = 1\nwhy = \"\"\n",
                "unknown property",
            ),
            (
                "[[finding]]\nvariant = \"pg96\"\nprofile = \"pages\"\nproperty = \"restart succeeds\"\nlength = 1\nwhy = \"\"\n",
                "unknown profile",
            ),
            (
                "[[finding]]\nvariant = \"pg96\"\nprofile = \"faults\"\nproperty = \"restart succeeds\"\nwhy = \"\"\n",
                "shortest length",
            ),
            (
                "[[finding]]\nvariant = \"pg96\"\nprofile = \"faults\"\nproperty = \"restart succeeds\"\nlength = 1\nwhy = \"\"\nextra = 1\n",
                "unknown field",
            ),
        ] {
            let err = ExpectedFindings::parse(Path::new("x.toml"), text, &PROFILES)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }
}
