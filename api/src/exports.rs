//! CSV exports for spreadsheet programs: UTF-8 with a byte-order mark (so Excel reads the
//! Chinese), a header row, and a file name to save it under. Amounts are written in fen
//! (integers) and in yuan as decimal text formatted from the fen, never through floating
//! point.

use poem_openapi::{ApiResponse, payload::PlainText};

use crate::error::ApiError;

/// A CSV file.
#[derive(ApiResponse)]
pub enum CsvExport {
    /// The rows as CSV (UTF-8 with a BOM, so spreadsheet programs read the Chinese).
    #[oai(status = 200, content_type = "text/csv; charset=utf-8")]
    Ok(
        PlainText<String>,
        /// `attachment; filename="…"`: the name to save the file under.
        #[oai(header = "Content-Disposition")]
        String,
    ),
}

/// Writes `header` and `rows` as a CSV export to be saved as `filename` (ASCII).
pub fn csv_export<R, F>(filename: &str, header: &[&str], rows: R) -> Result<CsvExport, ApiError>
where
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<[u8]>,
{
    let mut out = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let fail = |e: csv::Error| ApiError::Unexpected(anyhow::anyhow!("writing CSV: {e}"));
    out.write_record(header).map_err(fail)?;
    for row in rows {
        out.write_record(row).map_err(fail)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("writing CSV: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("CSV is not UTF-8: {e}")))?;
    Ok(CsvExport::Ok(
        PlainText(text),
        format!("attachment; filename=\"{filename}\""),
    ))
}
