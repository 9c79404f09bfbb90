//! The replay file: one versioned, self-contained JSON format for every engine's failures
//! (the simulator's shrunk schedules and the model's shortest counterexamples), written
//! atomically, read back with one clear error for anything malformed.
//!
//! ```json
//! {
//!   "format": "backup-check-replay",
//!   "version": 2,
//!   "engine": "sim",
//!   "variant": "pg91",
//!   "config": { "sql_sessions": 2, ... },
//!   "seed": 17,
//!   "expect": { "class": "safety", "property": "page writes forced while a backup runs" },
//!   "shrunk_from": 412,
//!   "drain": false,
//!   "actions": [ { "action": "begin", "session": 0, "command": { ... } }, ... ]
//! }
//! ```

use crate::run::{Failure, FailureClass};
use crate::schedule::Schedule;
use backup_coordinator::{Action, Config, Variant};
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The `format` field's value.
pub const FORMAT: &str = "backup-check-replay";
/// The version this build writes and reads.
pub const VERSION: u32 = 2;

/// Which engine found the failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// The seeded simulator.
    Sim,
    /// The exhaustive model (a shortest counterexample).
    Model,
}

/// What replaying the file must show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Safety or liveness.
    pub class: FailureClass,
    /// The property's name.
    pub property: String,
}

impl Expect {
    /// What `failure` shows.
    pub fn of(failure: &Failure) -> Self {
        Expect {
            class: failure.class(),
            property: failure.property().to_string(),
        }
    }

    /// Whether `failure` is this.
    pub fn matches(&self, failure: Option<&Failure>) -> bool {
        failure.is_some_and(|f| f.class() == self.class && f.property() == self.property)
    }
}

/// A replay file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// Who found it.
    pub engine: Engine,
    /// The design (`pg91`, `recommended`, ...).
    #[serde(with = "variant_name")]
    pub variant: Variant,
    /// The design file's text, for a design loaded from one: replaying loads it again, so
    /// that the counterexample replays without the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design: Option<String>,
    /// Bounds and settings.
    pub config: Config,
    /// The simulator's seed, if it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The model profile whose search found it (`custom-<digest of the bounds>` for bounds
    /// given on the command line), if it came from the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// The failure replaying must show.
    pub expect: Expect,
    /// The schedule's length before shrinking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk_from: Option<usize>,
    /// Run the liveness phase after the actions.
    pub drain: bool,
    /// Most steps of the liveness phase, where not the default for the configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drain_steps: Option<u64>,
    /// The design's known findings the run went past (their violations did not end it), by
    /// the names reports print; replaying goes past them too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub known: Vec<String>,
    /// The exact action list.
    pub actions: Vec<Action>,
}

/// The property a report names `name`.
fn property_named(name: &str) -> Option<backup_coordinator::invariants::Property> {
    backup_coordinator::invariants::Property::ALL
        .into_iter()
        .find(|p| p.name() == name)
}

mod variant_name {
    use backup_coordinator::Variant;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Variant, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Variant, D::Error> {
        let name = String::deserialize(d)?;
        name.parse()
            .or_else(|e| {
                backup_coordinator::design_file::FileDesign::named(&name)
                    .map(Variant::file)
                    .ok_or(e)
            })
            .map_err(serde::de::Error::custom)
    }
}

/// Why a replay file cannot be used.
#[derive(Debug, Error)]
pub enum ReplayFileError {
    /// It cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not valid JSON of this format.
    #[error("{path} is not a valid replay file: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the parser said (line and column included).
        message: String,
    },
    /// It is another format, or another version of this one.
    #[error(
        "{path}: {found} is not supported; this backup-check reads {FORMAT} version {VERSION}"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// What it says it is.
        found: String,
    },
    /// Its configuration is invalid.
    #[error("{path}: invalid configuration: {source}")]
    Config {
        /// The file.
        path: PathBuf,
        /// Why.
        source: backup_coordinator::config::ConfigError,
    },
    /// It cannot be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Only the header, read first so that a file of another version is named as such rather
/// than as malformed.
#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<serde_json::Value>,
    variant: Option<String>,
    design: Option<String>,
}

impl ReplayFile {
    /// A replay file for `schedule`, which fails as `expect` says.
    pub fn new(
        engine: Engine,
        schedule: &Schedule,
        expect: Expect,
        seed: Option<u64>,
        shrunk_from: Option<usize>,
    ) -> Self {
        ReplayFile {
            format: FORMAT.to_string(),
            version: VERSION,
            engine,
            variant: schedule.variant,
            design: schedule.variant.file.map(|f| f.spec().text.clone()),
            config: schedule.config,
            seed,
            profile: None,
            expect,
            shrunk_from,
            drain: schedule.drain,
            drain_steps: schedule.drain_steps,
            known: schedule
                .known
                .iter()
                .map(|p| p.name().to_string())
                .collect(),
            actions: schedule.actions.clone(),
        }
    }

    /// The schedule it holds.
    pub fn schedule(&self) -> Schedule {
        Schedule {
            variant: self.variant,
            config: self.config,
            actions: self.actions.clone(),
            drain: self.drain,
            drain_steps: self.drain_steps,
            known: self
                .known
                .iter()
                .filter_map(|name| property_named(name))
                .collect(),
        }
    }

    /// Parses `text` (read from `path`).
    pub fn parse(path: &Path, text: &str) -> Result<Self, ReplayFileError> {
        let malformed = |e: serde_json::Error| ReplayFileError::Malformed {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let header: Header = serde_json::from_str(text).map_err(malformed)?;
        let format = header.format.unwrap_or_default();
        let version = header.version.map(|v| v.to_string()).unwrap_or_default();
        if format != FORMAT || version != VERSION.to_string() {
            return Err(ReplayFileError::Version {
                path: path.to_path_buf(),
                found: format!("format {format:?} version {version:?}"),
            });
        }
        if let Some(design) = header.design {
            let name = header.variant.unwrap_or_default();
            let shown = format!("{} (its design)", path.display());
            backup_coordinator::design_file::parse(&design, &shown, &name)
                .and_then(|spec| backup_coordinator::design_file::register(spec, &shown))
                .map_err(|e| ReplayFileError::Malformed {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
        }
        let file: ReplayFile = serde_json::from_str(text).map_err(malformed)?;
        let expected_property = match file.expect.class {
            FailureClass::Liveness => {
                file.expect.property == backup_coordinator::invariants::EVERY_BACKUP_ENDS
            }
            FailureClass::Safety => property_named(&file.expect.property).is_some(),
        };
        if !expected_property {
            return Err(ReplayFileError::Malformed {
                path: path.to_path_buf(),
                message: format!(
                    "expect.property: {:?} names no {} property (names are as reports print them, such as \"units released exactly once\")",
                    file.expect.property,
                    file.expect.class.name()
                ),
            });
        }
        if let Some(name) = file.known.iter().find(|n| property_named(n).is_none()) {
            return Err(ReplayFileError::Malformed {
                path: path.to_path_buf(),
                message: format!("known: {name:?} names no property"),
            });
        }
        file.config
            .validate()
            .map_err(|source| ReplayFileError::Config {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(file)
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ReplayFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ReplayFileError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// The JSON text (pretty, one action per line, newline-terminated).
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// A file name that says what failed: `<variant>-<engine>-<class>-<property>[-seed<N>].json`.
    pub fn file_name(&self) -> String {
        let slug: String = self
            .expect
            .property
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let engine = match self.engine {
            Engine::Sim => "sim",
            Engine::Model => "model",
        };
        let seed = self.seed.map(|s| format!("-seed{s}")).unwrap_or_default();
        let profile = self
            .profile
            .as_deref()
            .map(|p| format!("-{p}"))
            .unwrap_or_default();
        format!(
            "{}-{engine}{profile}-{}-{}{seed}.json",
            self.variant.to_string().replace('+', "-"),
            self.expect.class.name(),
            slug.trim_matches('-')
        )
    }

    /// Writes the file into `dir` (created if missing) atomically: a temporary file in the
    /// same directory, flushed and synced, then renamed over the final name. Returns the path.
    ///
    /// A file of that name with other contents (an earlier run's different counterexample)
    /// is never replaced: this one is saved as `<name>-2.json`, `-3`, ... instead. The same
    /// contents are not written twice.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, ReplayFileError> {
        let text = self.to_json();
        let name = self.file_name();
        let stem = name.strip_suffix(".json").unwrap_or(&name).to_string();
        let mut n = 1u32;
        loop {
            let path = if n == 1 {
                dir.join(&name)
            } else {
                dir.join(format!("{stem}-{n}.json"))
            };
            match std::fs::read_to_string(&path) {
                Ok(existing) if existing == text => return Ok(path),
                Ok(_) => n += 1,
                Err(_) => {
                    write_atomically(&path, &text)?;
                    return Ok(path);
                }
            }
        }
    }
}

/// Writes `text` to `path` atomically (temporary file in the same directory, fsync, rename).
pub fn write_atomically(path: &Path, text: &str) -> Result<(), ReplayFileError> {
    let error = |source| ReplayFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(error)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(error)?;
    tmp.write_all(text.as_bytes()).map_err(error)?;
    tmp.as_file().sync_all().map_err(error)?;
    tmp.persist(path).map_err(|e| error(e.error))?;
    Ok(())
}
