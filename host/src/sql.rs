//! The `query` command: a SQL statement planned by the component. A SELECT
//! prints its rows (an aligned table, or JSON lines); EXPLAIN prints its
//! steps; INSERT and CALL run as writes and print one result line per row.

use std::io::Write;

use serde_json::{Map, Value};

use crate::Error;
use crate::driver::Output;
use crate::protocol::lines;
use crate::runtime::{Checkpoint, ExplainStep, LogLevel, LogMessage, RecordBatch};

/// How SELECT rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned columns for a terminal (rows are held until the end).
    Table,
    /// One JSON object per row, as they arrive.
    Jsonl,
    /// RFC 4180 CSV through the component's encoder (rows are held until
    /// the end; see `export` for files and options).
    Csv,
}

impl Format {
    pub fn parse(s: &str) -> Result<Format, Error> {
        match s {
            "table" => Ok(Format::Table),
            "jsonl" | "json" => Ok(Format::Jsonl),
            "csv" => Ok(Format::Csv),
            other => Err(Error::Usage(format!(
                "--format {other}: use table, jsonl or csv"
            ))),
        }
    }
}

/// Widest a table cell gets before it is cut (with `…`).
const MAX_CELL: usize = 60;

/// Collects or streams a query's rows.
pub struct RowPrinter<W: Write> {
    out: W,
    format: Format,
    columns: Option<Vec<String>>,
    held: Vec<Map<String, Value>>,
    pub rows: u64,
    verbose: bool,
}

impl<W: Write> RowPrinter<W> {
    /// `columns`: the query's output columns when it names them.
    pub fn new(out: W, format: Format, columns: Option<Vec<String>>) -> Self {
        RowPrinter {
            out,
            format,
            columns,
            held: Vec::new(),
            rows: 0,
            verbose: false,
        }
    }

    /// Passes the read's informational logs to stderr too (warnings and
    /// errors always go).
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }

    /// The rows held for `Csv`, as JSON lines.
    pub fn held_ndjson(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        for r in std::mem::take(&mut self.held) {
            out.extend_from_slice(Value::Object(r).to_string().as_bytes());
            out.push(b'\n');
        }
        out
    }

    /// Writes `bytes` (the CSV) and flushes.
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.out.write_all(bytes).map_err(Error::io)?;
        self.out.flush().map_err(Error::io)
    }

    /// Prints the table (for `Table`) and flushes.
    pub fn finish(&mut self) -> Result<(), Error> {
        if self.format == Format::Table {
            let columns = self.columns.clone().unwrap_or_else(|| {
                let mut seen: Vec<String> = Vec::new();
                for r in &self.held {
                    for k in r.keys() {
                        if !seen.contains(k) {
                            seen.push(k.clone());
                        }
                    }
                }
                seen
            });
            let cells: Vec<Vec<String>> = self
                .held
                .iter()
                .map(|r| columns.iter().map(|c| cell(r.get(c))).collect())
                .collect();
            table(&mut self.out, &columns, &cells).map_err(Error::io)?;
            writeln!(self.out, "({} rows)", self.held.len()).map_err(Error::io)?;
        }
        self.out.flush().map_err(Error::io)
    }
}

fn cell(v: Option<&Value>) -> String {
    let text = match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let text = text.replace(['\n', '\r', '\t'], " ");
    if text.chars().count() > MAX_CELL {
        let cut: String = text.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        text
    }
}

/// Prints `rows` under `header`, columns padded to their widest cell.
pub fn table(out: &mut dyn Write, header: &[String], rows: &[Vec<String>]) -> std::io::Result<()> {
    let widths: Vec<usize> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain(std::iter::once(h.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |out: &mut dyn Write, cells: &[String]| -> std::io::Result<()> {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect();
        writeln!(out, "{}", padded.join("  ").trim_end())
    };
    line(out, header)?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(out, &rule)?;
    for r in rows {
        line(out, r)?;
    }
    Ok(())
}

/// EXPLAIN's steps as a table.
pub fn print_explain(out: &mut dyn Write, steps: &[ExplainStep]) -> Result<(), Error> {
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| vec![s.step.clone(), s.detail.clone()])
        .collect();
    table(out, &["step".to_string(), "detail".to_string()], &rows).map_err(Error::io)
}

impl<W: Write> Output for RowPrinter<W> {
    fn emit(&mut self, batch: RecordBatch) -> Result<(), Error> {
        for line in lines(&batch.payload) {
            self.rows += 1;
            match self.format {
                Format::Jsonl => {
                    self.out.write_all(line).map_err(Error::io)?;
                    self.out.write_all(b"\n").map_err(Error::io)?;
                }
                Format::Table | Format::Csv => {
                    let row: Map<String, Value> = serde_json::from_slice(line).map_err(|e| {
                        Error::Runtime(format!("the component emitted a bad row: {e}"))
                    })?;
                    self.held.push(row);
                }
            }
        }
        Ok(())
    }

    fn commit(&mut self, _checkpoint: Checkpoint) -> Result<(), Error> {
        Ok(())
    }

    fn log(&mut self, m: LogMessage) -> Result<(), Error> {
        if self.verbose || matches!(m.level, LogLevel::Warn | LogLevel::Error) {
            eprintln!("{}", crate::protocol::log_line(&m));
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(Error::io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_pad_columns_and_cut_long_cells() {
        let mut out = Vec::new();
        let long = "x".repeat(100);
        table(
            &mut out,
            &["id".into(), "name".into()],
            &[
                vec!["1".into(), "a".into()],
                vec!["22".into(), cell(Some(&Value::String(long)))],
            ],
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "id  name");
        assert_eq!(lines[1], format!("--  {}", "-".repeat(60)));
        assert!(lines[3].ends_with('…') && lines[3].chars().count() == 64);
        assert_eq!(Format::parse("csv").unwrap(), Format::Csv);
        assert_eq!(
            Format::parse("xml").unwrap_err().to_string(),
            "--format xml: use table, jsonl or csv"
        );
    }
}
