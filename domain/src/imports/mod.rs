//! CSV files staff import: the household roll ([`roll`]) and meter readings
//! ([`readings`]). Both are all-or-nothing: either every row is valid or the caller gets
//! every row's errors (row, column, reason), so nothing is half-imported. Both take UTF-8
//! with or without a byte-order mark and a header row in English or Chinese.

use std::{collections::HashMap, hash::Hash};

use serde::Serialize;

pub mod readings;
pub mod roll;

pub use readings::{ReadingRow, parse_readings};
pub use roll::{RollHousehold, RollResident, RollRow, parse_roll};

/// The most data rows one file may carry.
pub const MAX_ROWS: usize = 50_000;

/// Why one row (or the header) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    /// Row number in the file, the header being row 1.
    pub row: usize,
    /// The column, by its header name; empty for whole-row problems.
    pub column: String,
    /// What is wrong.
    pub reason: String,
}

impl RowError {
    /// A problem with the file as a whole, reported on its header row.
    pub fn header(reason: impl Into<String>) -> Vec<Self> {
        vec![Self {
            row: 1,
            column: String::new(),
            reason: reason.into(),
        }]
    }
}

/// The columns one kind of file has.
pub(crate) trait Columns: Copy + Eq + Hash + 'static {
    /// Columns the header must name.
    const REQUIRED: &'static [Self];
    /// The column a header names (English or Chinese), if any.
    fn from_header(header: &str) -> Option<Self>;
    /// The column's English header, used in error reports.
    fn name(self) -> &'static str;
}

/// A CSV file past its header row: where each column is, and the records.
pub(crate) struct Sheet<'a, C> {
    columns: HashMap<C, usize>,
    reader: csv::Reader<&'a [u8]>,
}

/// One data row.
pub(crate) struct Record<'s, C> {
    /// Row number in the file, the header being row 1.
    pub row: usize,
    columns: &'s HashMap<C, usize>,
    record: csv::StringRecord,
}

impl<C: Columns> Record<'_, C> {
    /// The row's value in `column`, trimmed; empty when the file has no such column.
    pub fn get(&self, column: C) -> &str {
        self.columns
            .get(&column)
            .and_then(|&i| self.record.get(i))
            .unwrap_or("")
    }

    /// An error in `column` of this row.
    pub fn error(&self, column: C, reason: impl Into<String>) -> RowError {
        RowError {
            row: self.row,
            column: column.name().into(),
            reason: reason.into(),
        }
    }
}

impl<'a, C: Columns> Sheet<'a, C> {
    /// Opens a file: strips a BOM, reads the header and maps it to columns. An unknown or
    /// repeated column, or a missing required one, refuses the file.
    pub fn open(bytes: &'a [u8]) -> Result<Self, Vec<RowError>> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let headers = match reader.headers() {
            Ok(headers) => headers.clone(),
            Err(e) => return Err(RowError::header(csv_reason(&e))),
        };
        let mut columns: HashMap<C, usize> = HashMap::new();
        for (i, header) in headers.iter().enumerate() {
            match C::from_header(header) {
                Some(column) if columns.insert(column, i).is_some() => {
                    return Err(RowError::header(format!("column `{header}` appears twice")));
                }
                Some(_) => {}
                None if header.is_empty() => {}
                None => return Err(RowError::header(format!("unknown column `{header}`"))),
            }
        }
        let missing: Vec<&str> = C::REQUIRED
            .iter()
            .filter(|c| !columns.contains_key(c))
            .map(|c| c.name())
            .collect();
        if !missing.is_empty() {
            return Err(RowError::header(format!(
                "missing columns: {}",
                missing.join(", ")
            )));
        }
        Ok(Self { columns, reader })
    }

    /// Whether the header names `column`.
    pub fn has(&self, column: C) -> bool {
        self.columns.contains_key(&column)
    }

    /// Calls `each` with every non-blank data row and the errors so far; rows that are not
    /// CSV, and rows past [`MAX_ROWS`], go to `errors` themselves.
    pub fn each(
        mut self,
        errors: &mut Vec<RowError>,
        mut each: impl FnMut(Record<'_, C>, &mut Vec<RowError>),
    ) {
        let columns = &self.columns;
        for (i, record) in self.reader.records().enumerate() {
            let row = i + 2;
            if i >= MAX_ROWS {
                errors.push(RowError {
                    row,
                    column: String::new(),
                    reason: format!("a file has at most {MAX_ROWS} rows"),
                });
                break;
            }
            match record {
                Ok(record) if record.iter().all(str::is_empty) => {}
                Ok(record) => each(
                    Record {
                        row,
                        columns,
                        record,
                    },
                    errors,
                ),
                Err(e) => errors.push(RowError {
                    row,
                    column: String::new(),
                    reason: csv_reason(&e),
                }),
            }
        }
    }
}

fn csv_reason(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "the file is not UTF-8 text (save it as CSV UTF-8)".into(),
        _ => format!("unreadable CSV: {error}"),
    }
}
