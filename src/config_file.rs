//! `serve --config FILE`: the serve flags from a TOML file.
//!
//! The file's keys are the flags' names, in snake_case (`max_in_flight`) or
//! as on the command line (`max-in-flight`); the set of keys is exactly the
//! set of `serve` flags, read from clap, so a flag added to `Config` is a
//! key at once and a key that is no flag is refused by name. Each value is
//! checked by its flag's own parser, then becomes that flag's default:
//! clap then gives a flag on the command line precedence over its
//! environment variable, and both over the file, and the file over the
//! built-in default. `--print-config` renders what is in effect, with the
//! source of each value, secrets masked.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};
use toml::Spanned;

/// Flags that make no sense in the file itself.
const NOT_IN_FILE: [&str; 4] = ["config", "print_config", "help", "version"];

/// Settings shown masked by `--print-config`.
const SECRETS: [&str; 3] = ["token", "current_signing_key", "next_signing_key"];

/// The command line with a config file's values folded in.
pub struct Parsed<P> {
    pub cli: P,
    /// The effective settings of subcommand `sub` as TOML, for
    /// `--print-config`; `None` when another subcommand ran.
    pub effective: Option<String>,
}

/// Parses `args` as `P`; when the subcommand `sub` is given `--config`
/// (or its environment variable), the file's values become the defaults of
/// its flags. A clap error (or `--help`) exits as clap does; a bad file is
/// `Err` with the file, line and problem.
pub fn parse<P: CommandFactory + FromArgMatches>(
    sub: &str,
    args: Vec<OsString>,
) -> Result<Parsed<P>, String> {
    let first = P::command().get_matches_from(args.clone());
    let mut from_file = BTreeSet::new();
    let mut command = P::command();
    // Rendered in the flags' own order (`mut_arg` moves an arg to the end).
    let declared = command.find_subcommand(sub).cloned();
    if let Some((_, m)) = first.subcommand().filter(|(name, _)| *name == sub) {
        if let Some(path) = m.get_raw("config").and_then(|mut v| v.next()) {
            let sub_command = declared
                .as_ref()
                .ok_or_else(|| format!("no subcommand {sub}"))?;
            let values = read(Path::new(path), sub_command)?;
            from_file = values.keys().cloned().collect();
            command = command.mut_subcommand(sub, |mut s| {
                for (id, value) in values {
                    s = s.mut_arg(id, |a| a.default_value(value));
                }
                s
            });
        }
    }
    let matches = command.get_matches_from(args);
    let cli = P::from_arg_matches(&matches).map_err(|e| e.to_string())?;
    let effective = match (matches.subcommand(), &declared) {
        (Some((name, m)), Some(s)) if name == sub => Some(render(s, m, &from_file)),
        _ => None,
    };
    Ok(Parsed { cli, effective })
}

/// The file's values by flag id, each checked by its flag's parser.
fn read(path: &Path, command: &Command) -> Result<BTreeMap<String, String>, String> {
    let name = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read it: {e}"))?;
    let line = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(&text).map_err(|e| match e.span() {
            Some(s) => format!("{name}:{}: {}", line(s.start), e.message().trim()),
            None => format!("{name}: {}", e.message().trim()),
        })?;
    let mut out = BTreeMap::new();
    for (key, value) in table {
        let at = line(key.span().start);
        let key = key.into_inner();
        let id = key.replace('-', "_");
        let arg = command
            .get_arguments()
            .find(|a| a.get_id() == id.as_str() && !NOT_IN_FILE.contains(&id.as_str()))
            .ok_or_else(|| {
                format!(
                    "{name}:{at}: unknown key {key:?}; the keys are the flags of `cronhook serve`: {}",
                    keys(command).join(", ")
                )
            })?;
        let value = text_of(arg, value.get_ref())
            .map_err(|problem| format!("{name}:{at}: {key}: {problem}"))?;
        if !matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
            // The flag's own parser checks the value, as on the command line.
            let long = arg.get_long().unwrap_or(id.as_str()).to_owned();
            let tried = command
                .clone()
                .try_get_matches_from([command.get_name().to_owned(), format!("--{long}={value}")]);
            if let Err(e) = tried {
                let text = e.to_string();
                let why: Vec<&str> = text
                    .lines()
                    .map(str::trim)
                    .take_while(|l| !l.is_empty())
                    .collect();
                let why = why.join(" ");
                let why = why.trim_start_matches("error: ");
                return Err(format!("{name}:{at}: {key}: {why}"));
            }
        }
        if out.insert(id.clone(), value).is_some() {
            return Err(format!(
                "{name}:{at}: {key}: set twice (as {id} and {})",
                id.replace('_', "-")
            ));
        }
    }
    Ok(out)
}

/// The keys a file may have.
fn keys(command: &Command) -> Vec<String> {
    command
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .filter(|id| !NOT_IN_FILE.contains(&id.as_str()))
        .collect()
}

/// A TOML value as the text its flag would be given.
fn text_of(arg: &Arg, v: &toml::Value) -> Result<String, String> {
    let switch = matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse);
    match v {
        toml::Value::Boolean(b) => Ok(b.to_string()),
        _ if switch => Err("must be true or false".into()),
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(n) => Ok(n.to_string()),
        toml::Value::Float(f) => Ok(f.to_string()),
        toml::Value::Datetime(d) => Ok(d.to_string()),
        toml::Value::Array(_) | toml::Value::Table(_) => {
            Err("must be a string, number or boolean".into())
        }
    }
}

/// The settings in effect as TOML, one `key = value  # source` line each.
fn render(command: &Command, m: &ArgMatches, from_file: &BTreeSet<String>) -> String {
    let mut out = String::from(
        "# cronhook serve: the settings in effect (flag > environment > file > default).\n\
         # Secrets are masked.\n",
    );
    for arg in command.get_arguments() {
        let id = arg.get_id().as_str();
        if NOT_IN_FILE.contains(&id) {
            continue;
        }
        let source = match m.value_source(id) {
            Some(ValueSource::CommandLine) => "flag",
            Some(ValueSource::EnvVariable) => "environment",
            Some(ValueSource::DefaultValue) if from_file.contains(id) => "file",
            Some(_) => "default",
            None => {
                out.push_str(&format!("# {id} = (not set)\n"));
                continue;
            }
        };
        let raw = m
            .get_raw(id)
            .and_then(|mut v| v.next())
            .map(|v| v.to_string_lossy().into_owned())
            .unwrap_or_default();
        let value = if SECRETS.contains(&id) {
            toml::Value::String("********".into())
        } else if id == "db" {
            // A PostgreSQL URL may carry a password.
            toml::Value::String(crate::store::DbTarget::parse(&raw).redacted())
        } else {
            value_of(&raw)
        };
        let masked = if SECRETS.contains(&id) {
            ", masked"
        } else {
            ""
        };
        out.push_str(&format!("{id} = {value}  # {source}{masked}\n"));
    }
    out
}

/// Numbers and booleans bare, everything else a string.
fn value_of(raw: &str) -> toml::Value {
    if let Ok(n) = raw.parse::<i64>() {
        return toml::Value::Integer(n);
    }
    if raw.contains('.') {
        if let Ok(f) = raw.parse::<f64>() {
            return toml::Value::Float(f);
        }
    }
    match raw {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(raw.to_owned()),
    }
}
