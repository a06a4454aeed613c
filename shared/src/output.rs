//! Printing objects the way kubectl does: `-o table|wide|json|yaml|name`.
//!
//! Tables have upper-case headers, no borders and columns three spaces apart. JSON and YAML
//! are for scripts: a list prints as `{"apiVersion": "kubectl-ops/v1", "kind": "<Kind>List",
//! "items": [...]}` with each item's documented fields, a single object as itself.

use std::io::Write;

use clap::{Args, ValueEnum};
use serde::Serialize;
use tabled::builder::Builder;
use tabled::settings::{Padding, Style};

use crate::error::{Error, Result};

/// The API version stamped on list output, bumped only on incompatible changes.
pub const LIST_API_VERSION: &str = "kubectl-ops/v1";

/// Output formats, as kubectl names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns.
    #[default]
    Table,
    /// Aligned columns with extra detail.
    Wide,
    /// JSON, for scripts.
    Json,
    /// YAML, for scripts.
    Yaml,
    /// `kind/name` per line.
    Name,
}

impl OutputFormat {
    /// JSON or YAML.
    pub fn is_structured(self) -> bool {
        matches!(self, OutputFormat::Json | OutputFormat::Yaml)
    }
}

/// `-o/--output`, flattened into commands that print objects.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
}

/// `-o json|yaml`, for commands whose normal output is for people (a summary line, a table of
/// verdicts, a report). Only the formats such a command really prints are accepted, so
/// `-o wide` or `-o name` is clap's usage error (exit 2) instead of a silent default.
/// The field is an [`OutputFormat`]: [`OutputFormat::Table`] stands for the default text.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct SummaryOutputArgs {
    /// Output format for scripts [default: text for people].
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FORMAT",
        default_value = "text",
        hide_default_value = true,
        value_parser = summary_formats()
    )]
    pub output: OutputFormat,
}

/// The values of [`SummaryOutputArgs`]: `json`, `yaml`, and the default `text` (hidden; `table`
/// is its alias, accepted as before).
pub fn summary_formats() -> impl clap::builder::TypedValueParser<Value = OutputFormat> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("json").help("JSON, for scripts"),
        PossibleValue::new("yaml").help("YAML, for scripts"),
        PossibleValue::new("text").alias("table").hide(true),
    ])
    .map(|s| match s.as_str() {
        "json" => OutputFormat::Json,
        "yaml" => OutputFormat::Yaml,
        _ => OutputFormat::Table,
    })
}

/// The values of a command that prints only data for scripts (`config view`): `yaml` or `json`.
pub fn structured_formats() -> impl clap::builder::TypedValueParser<Value = OutputFormat> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("yaml").help("YAML"),
        PossibleValue::new("json").help("JSON"),
    ])
    .map(|s| {
        if s == "json" {
            OutputFormat::Json
        } else {
            OutputFormat::Yaml
        }
    })
}

/// A kubectl-looking table.
#[derive(Debug, Clone, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers (upper-cased when rendered).
    pub fn new<I, S>(headers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Table {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells render empty.
    pub fn push<I, S>(&mut self, cells: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.rows.push(cells.into_iter().map(Into::into).collect());
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Renders to text, one line per row plus the header, each line ending in `\n`.
    pub fn render(&self) -> String {
        let width = self.headers.len();
        let mut builder = Builder::default();
        builder.push_record(self.headers.iter().map(|h| h.to_uppercase()));
        for row in &self.rows {
            let mut cells = row.clone();
            cells.resize(width.max(cells.len()), String::new());
            builder.push_record(cells);
        }
        let mut table = builder.build();
        table.with(Style::blank()).with(Padding::new(0, 2, 0, 0));
        let mut out = String::new();
        for line in table.to_string().lines() {
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Items that can be printed in every format.
pub trait Printable: Serialize {
    /// The kind used for `-o name` (`certificate`) and list kinds (`CertificateList`).
    const KIND: &'static str;
    /// Column headers; `wide` adds the detail columns.
    fn headers(wide: bool) -> Vec<&'static str>;
    /// The cells of this item's row, matching [`Printable::headers`].
    fn row(&self, wide: bool) -> Vec<String>;
    /// The name printed by `-o name`.
    fn name(&self) -> String;
}

/// The JSON/YAML envelope of a list.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListEnvelope<'a, T: Serialize> {
    api_version: &'static str,
    kind: String,
    items: &'a [T],
}

/// Prints items in the requested format. Tables with no rows print nothing to `out`
/// (callers say "No resources found" on stderr, like kubectl).
pub fn print_list<T: Printable>(
    out: &mut dyn Write,
    format: OutputFormat,
    items: &[T],
) -> Result<()> {
    match format {
        OutputFormat::Table | OutputFormat::Wide => {
            if items.is_empty() {
                return Ok(());
            }
            let wide = format == OutputFormat::Wide;
            let mut table = Table::new(T::headers(wide));
            for item in items {
                table.push(item.row(wide));
            }
            write_str(out, &table.render())
        }
        OutputFormat::Name => {
            let kind = T::KIND.to_lowercase();
            let mut text = String::new();
            for item in items {
                text.push_str(&format!("{kind}/{}\n", item.name()));
            }
            write_str(out, &text)
        }
        OutputFormat::Json | OutputFormat::Yaml => {
            let envelope = ListEnvelope {
                api_version: LIST_API_VERSION,
                kind: format!("{}List", T::KIND),
                items,
            };
            print_structured(out, format, &envelope)
        }
    }
}

/// Prints one value as JSON (pretty, trailing newline) or YAML.
pub fn print_structured<T: Serialize + ?Sized>(
    out: &mut dyn Write,
    format: OutputFormat,
    value: &T,
) -> Result<()> {
    let text = match format {
        OutputFormat::Yaml => to_yaml(value)?,
        _ => {
            let mut s = serde_json::to_string_pretty(value).map_err(|e| Error::Serialize {
                format: "json",
                message: e.to_string(),
            })?;
            s.push('\n');
            s
        }
    };
    write_str(out, &text)
}

/// Serializes to YAML text.
pub fn to_yaml<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    // Go through serde_json::Value so that YAML and JSON always show the same fields.
    let json = serde_json::to_value(value).map_err(|e| Error::Serialize {
        format: "yaml",
        message: e.to_string(),
    })?;
    serde_saphyr::to_string(&json).map_err(|e| Error::Serialize {
        format: "yaml",
        message: e.to_string(),
    })
}

/// Writes text, mapping failures (including a closed pipe) to [`Error::Output`].
pub fn write_str(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(Error::Output)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Thing {
        name: String,
        days: i64,
        note: String,
    }

    impl Printable for Thing {
        const KIND: &'static str = "Thing";
        fn headers(wide: bool) -> Vec<&'static str> {
            if wide {
                vec!["name", "days", "note"]
            } else {
                vec!["name", "days"]
            }
        }
        fn row(&self, wide: bool) -> Vec<String> {
            let mut r = vec![self.name.clone(), self.days.to_string()];
            if wide {
                r.push(self.note.clone());
            }
            r
        }
        fn name(&self) -> String {
            self.name.clone()
        }
    }

    fn things() -> Vec<Thing> {
        vec![
            Thing {
                name: "api-gateway".into(),
                days: 12,
                note: "a".into(),
            },
            Thing {
                name: "ca".into(),
                days: 365,
                note: "bb".into(),
            },
        ]
    }

    fn render(format: OutputFormat) -> String {
        let mut out = Vec::new();
        print_list(&mut out, format, &things()).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn table_looks_like_kubectl() {
        assert_eq!(
            render(OutputFormat::Table),
            "NAME          DAYS\napi-gateway   12\nca            365\n"
        );
    }

    #[test]
    fn wide_adds_columns() {
        assert_eq!(
            render(OutputFormat::Wide),
            "NAME          DAYS   NOTE\napi-gateway   12     a\nca            365    bb\n"
        );
    }

    #[test]
    fn name_output() {
        assert_eq!(render(OutputFormat::Name), "thing/api-gateway\nthing/ca\n");
    }

    #[test]
    fn json_list_envelope() {
        let v: serde_json::Value = serde_json::from_str(&render(OutputFormat::Json)).unwrap();
        assert_eq!(v["apiVersion"], "kubectl-ops/v1");
        assert_eq!(v["kind"], "ThingList");
        assert_eq!(v["items"][1]["days"], 365);
    }

    #[test]
    fn yaml_has_the_same_fields_as_json() {
        let yaml = render(OutputFormat::Yaml);
        let from_yaml: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        let from_json: serde_json::Value =
            serde_json::from_str(&render(OutputFormat::Json)).unwrap();
        assert_eq!(from_yaml, from_json);
    }

    #[test]
    fn empty_table_prints_nothing() {
        let mut out = Vec::new();
        print_list::<Thing>(&mut out, OutputFormat::Table, &[]).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn coloured_cells_keep_alignment() {
        let mut t = Table::new(["a", "b"]);
        t.push([
            crate::color::apply(crate::color::Tone::Bad, "x"),
            "1".to_string(),
        ]);
        t.push(["long-value".to_string(), "2".to_string()]);
        let plain: String = t
            .render()
            .replace("\u{1b}[31m", "")
            .replace("\u{1b}[39m", "");
        assert_eq!(plain, "A            B\nx            1\nlong-value   2\n");
    }
}
