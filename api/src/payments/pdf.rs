//! Payment receipts (收据) as PDF: an A4 portrait page (more when the lines do not fit), the
//! Chinese set in Noto Sans SC, the total in figures and in Chinese capitals (大写).
//!
//! Money stays in integer fen from the caller to the page: figures and capitals are built
//! with integer division, never through a float. Only coordinates are floats.
//!
//! The embedded font (`api/assets/fonts/`, rebuilt by `scripts/subset-receipt-font.sh`)
//! holds ASCII, CJK punctuation, the 3,755 level-1 hanzi of GB2312 and every character of
//! this file. A receipt that needs a character outside it is refused with
//! [`PdfError::MissingGlyphs`] rather than printed with blank boxes in a name or an address.
//! Each document embeds a further subset with only the glyphs it draws, so a one-page
//! receipt stays small.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use allsorts::binary::read::ReadScope;
use allsorts::font_data::FontData;
use allsorts::subset::{CmapTarget, SubsetProfile};
use printpdf::{
    Color, FontId, Greyscale, Line, LinePoint, Mm, Op, PaintMode, ParsedFont, PdfDocument,
    PdfFontHandle, PdfPage, PdfParseErrorSeverity, PdfSaveOptions, Point, Pt, Rect, TextItem,
};

/// Noto Sans SC Regular, subset; where it comes from is in `api/assets/fonts/README.md`.
static FONT_TTF: &[u8] = include_bytes!("../../assets/fonts/NotoSansSC-Receipt.ttf");

/// What one receipt shows. Strings arrive formatted for display (dates in the community's
/// time zone, quantities with their decimals); amounts arrive in fen.
pub struct ReceiptPdf<'a> {
    /// The issuing property-management company; may be empty.
    pub company: &'a str,
    /// The receipt number, unique per company and year.
    pub number: &'a str,
    /// The community's name.
    pub community: &'a str,
    /// The household's address inside the community.
    pub address: &'a str,
    /// The resident who paid, or `None` for a payment taken at the front desk.
    pub payer: Option<&'a str>,
    /// The payment method, already localized ("微信支付", "现金").
    pub method: &'a str,
    /// The provider's transaction id, when there is one.
    pub transaction_id: Option<&'a str>,
    /// A reference recorded with the payment (voucher or transfer number).
    pub reference: Option<&'a str>,
    /// When it was paid, formatted in the community's time zone.
    pub paid_at: &'a str,
    /// The lines paid, in the order they are printed.
    pub lines: &'a [ReceiptPdfLine<'a>],
    /// The amount paid, in fen.
    pub total_fen: i64,
}

/// One printed line of a receipt.
pub struct ReceiptPdfLine<'a> {
    /// The billing period ("2026-11").
    pub period: &'a str,
    /// The fee item ("物业费", "水费（第2阶梯）", "滞纳金").
    pub name: &'a str,
    /// The quantity, formatted ("89.510").
    pub quantity: &'a str,
    /// The unit ("m²", "吨", "千瓦时", "项").
    pub unit: &'a str,
    /// The unit price in yuan, formatted ("2.3500").
    pub unit_price: &'a str,
    /// The line's amount, in fen.
    pub amount_fen: i64,
}

/// Why a receipt could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The text needs characters the embedded font does not have.
    #[error("the receipt font has no glyph for {chars:?}")]
    MissingGlyphs {
        /// Each missing character once, in code point order.
        chars: String,
    },
    /// The embedded font could not be read or subset (a broken asset, not bad input).
    #[error("the receipt font is unusable: {0}")]
    Font(String),
    /// printpdf reported an error while writing the document.
    #[error("the receipt PDF could not be written: {0}")]
    Write(String),
}

mod amounts;
#[cfg(test)]
mod tests;

pub use amounts::capital_amount;
use courtyard_domain::money::yuan_figures as yuan;

/// Renders the receipt as a PDF document.
pub fn render(receipt: &ReceiptPdf<'_>) -> Result<Vec<u8>, PdfError> {
    let face = FACE.as_ref().map_err(|e| PdfError::Font(e.clone()))?;
    let pages = layout(face, receipt);

    let used: BTreeSet<char> = pages
        .iter()
        .flat_map(|page| page.iter())
        .filter_map(|item| match item {
            Item::Text { text, .. } => Some(text.chars()),
            _ => None,
        })
        .flatten()
        .collect();
    let missing: String = used.iter().filter(|c| face.glyph(**c).is_none()).collect();
    if !missing.is_empty() {
        return Err(PdfError::MissingGlyphs { chars: missing });
    }

    let font = subset_font(face, &used)?;
    let mut doc = PdfDocument::new(&format!("收据 {}", receipt.number));
    let font_id = doc.add_font(&font);
    let pages = pages
        .into_iter()
        .map(|items| page(&font_id, items))
        .collect();

    let mut warnings = Vec::new();
    let bytes = doc
        .with_pages(pages)
        .save(&PdfSaveOptions::default(), &mut warnings);
    let errors: Vec<String> = warnings
        .into_iter()
        .filter(|w| w.severity == PdfParseErrorSeverity::Error)
        .map(|w| w.msg)
        .collect();
    if errors.is_empty() {
        Ok(bytes)
    } else {
        Err(PdfError::Write(errors.join("; ")))
    }
}

// Geometry, in mm from the top-left corner of an A4 page; font sizes in pt.
const PAGE_W: f32 = 210.0;
const PAGE_H: f32 = 297.0;
const MARGIN: f32 = 18.0;
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Rows and the totals block end above this line; the page footer sits below it.
const BODY_BOTTOM: f32 = PAGE_H - 20.0;
const FOOTER_BASELINE: f32 = PAGE_H - 11.0;

const TITLE_SIZE: f32 = 20.0;
const TEXT_SIZE: f32 = 10.0;
const TABLE_SIZE: f32 = 9.5;
const SMALL_SIZE: f32 = 8.0;

/// Distance between the baselines of two lines of text (info block and table cells).
const LEADING: f32 = 5.0;
/// Space above the first and below the last line of a table row.
const CELL_PAD_Y: f32 = 1.5;
const CELL_PAD_X: f32 = 1.5;
/// The totals block: the rule, the figures, the capitals and the signature line.
const TOTALS_H: f32 = 32.0;

const MM_PER_PT: f32 = 25.4 / 72.0;

#[derive(Clone, Copy)]
enum Align {
    Left,
    Right,
    Center,
}

struct Column {
    title: &'static str,
    width: f32,
    align: Align,
}

const COLUMNS: [Column; 6] = [
    Column {
        title: "月份",
        width: 22.0,
        align: Align::Left,
    },
    Column {
        title: "项目",
        width: 62.0,
        align: Align::Left,
    },
    Column {
        title: "数量",
        width: 24.0,
        align: Align::Right,
    },
    Column {
        title: "单位",
        width: 16.0,
        align: Align::Center,
    },
    Column {
        title: "单价(元)",
        width: 24.0,
        align: Align::Right,
    },
    Column {
        title: "金额(元)",
        width: 26.0,
        align: Align::Right,
    },
];

/// Something drawn on a page; `y` is a text baseline or a rule, in mm from the top.
enum Item {
    Text {
        x: f32,
        y: f32,
        size: f32,
        text: String,
    },
    Rule {
        x1: f32,
        x2: f32,
        y: f32,
    },
    Shade {
        x: f32,
        y: f32,
        w: f32,
        h: f32,
    },
}

/// The embedded font's character map and advance widths, read once.
struct Face {
    font: ParsedFont,
    units_per_em: f32,
}

static FACE: LazyLock<Result<Face, String>> = LazyLock::new(|| {
    let mut warnings = Vec::new();
    let font = ParsedFont::from_bytes(FONT_TTF, 0, &mut warnings)
        .ok_or_else(|| format!("the embedded font does not parse: {warnings:?}"))?;
    let units_per_em = f32::from(font.units_per_em.max(1));
    Ok(Face { font, units_per_em })
});

impl Face {
    fn glyph(&self, c: char) -> Option<u16> {
        self.font
            .lookup_glyph_index(u32::from(c))
            .filter(|&gid| gid != 0)
    }

    /// The width of `text` set at `size` pt, in mm. An unknown character counts as one em;
    /// `render` refuses it later anyway.
    fn width(&self, text: &str, size: f32) -> f32 {
        let units: f32 = text
            .chars()
            .map(
                |c| match self.glyph(c).and_then(|g| self.font.get_glyph_width(g)) {
                    Some(advance) => f32::from(advance),
                    None => self.units_per_em,
                },
            )
            .sum();
        units / self.units_per_em * size * MM_PER_PT
    }

    /// Breaks `text` into lines no wider than `width` mm. Chinese breaks between any two
    /// characters; a line is only broken inside a Latin word when the word alone is too wide.
    fn wrap(&self, text: &str, size: f32, width: f32) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for c in text.chars() {
            let mut candidate = line.clone();
            candidate.push(c);
            if line.is_empty() || self.width(&candidate, size) <= width {
                line = candidate;
                continue;
            }
            let word_start = line
                .char_indices()
                .rev()
                .find(|(_, ch)| !ch.is_ascii_alphanumeric())
                .map(|(i, ch)| i + ch.len_utf8());
            match word_start {
                Some(start) if c.is_ascii_alphanumeric() && start > 0 && start < line.len() => {
                    let rest = line.split_off(start);
                    lines.push(line.trim_end().to_owned());
                    line = rest;
                }
                _ => lines.push(std::mem::take(&mut line).trim_end().to_owned()),
            }
            if !(line.is_empty() && c == ' ') {
                line.push(c);
            }
        }
        lines.push(line);
        lines
    }
}

/// Control characters (a newline typed into an address) print as spaces.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Lays the receipt out page by page; each page is a list of items, footers included.
///
/// The totals never stand alone on a page: when they do not fit under the last line, that
/// line moves to the next page with them.
fn layout(face: &Face, r: &ReceiptPdf<'_>) -> Vec<Vec<Item>> {
    let rows: Vec<Vec<Vec<String>>> = r.lines.iter().map(|line| wrap_row(face, line)).collect();
    let mut pages = Vec::new();
    let mut items = Vec::new();
    let top = first_page_header(face, r, &mut items);
    let mut y = table_header(face, &mut items, top);
    let mut rows_on_page = 0;

    for (i, cells) in rows.iter().enumerate() {
        let height = row_height(cells);
        let last = i + 1 == rows.len();
        let overflows = y + height > BODY_BOTTOM || (last && y + height + TOTALS_H > BODY_BOTTOM);
        if overflows && rows_on_page > 0 {
            pages.push(std::mem::take(&mut items));
            let top = continuation_header(r, &mut items);
            y = table_header(face, &mut items, top);
            rows_on_page = 0;
        }
        table_row(face, &mut items, y, cells);
        y += height;
        rows_on_page += 1;
    }

    if y + TOTALS_H > BODY_BOTTOM {
        pages.push(std::mem::take(&mut items));
        y = continuation_header(r, &mut items);
    }
    totals(face, r, &mut items, y);
    pages.push(items);

    let count = pages.len();
    for (i, page) in pages.iter_mut().enumerate() {
        let footer = format!(
            "收据编号 {}    第 {} 页 / 共 {} 页",
            printable(r.number),
            i + 1,
            count
        );
        text(
            face,
            page,
            Align::Center,
            PAGE_W / 2.0,
            FOOTER_BASELINE,
            SMALL_SIZE,
            footer,
        );
    }
    pages
}

/// A line's cells as printed, each wrapped to its column.
fn wrap_row(face: &Face, line: &ReceiptPdfLine<'_>) -> Vec<Vec<String>> {
    let cells = [
        printable(line.period),
        printable(line.name),
        printable(line.quantity),
        printable(line.unit),
        printable(line.unit_price),
        yuan(line.amount_fen),
    ];
    cells
        .iter()
        .zip(&COLUMNS)
        .map(|(text, col)| face.wrap(text, TABLE_SIZE, col.width - 2.0 * CELL_PAD_X))
        .collect()
}

/// The height of a table row whose tallest cell has the most lines.
fn row_height(cells: &[Vec<String>]) -> f32 {
    let lines = cells.iter().map(Vec::len).max().unwrap_or(1);
    2.0 * CELL_PAD_Y + LEADING * lines as f32
}

/// The company, the title and the receipt's details; returns where the table starts.
fn first_page_header(face: &Face, r: &ReceiptPdf<'_>, items: &mut Vec<Item>) -> f32 {
    let mut y = MARGIN;
    let company = printable(r.company);
    if !company.trim().is_empty() {
        y += 5.0;
        text(face, items, Align::Center, PAGE_W / 2.0, y, 12.0, company);
        y += 4.0;
    }
    y += 9.0;
    text(
        face,
        items,
        Align::Center,
        PAGE_W / 2.0,
        y,
        TITLE_SIZE,
        "收据 RECEIPT".to_owned(),
    );
    y += 6.0;
    items.push(Item::Rule {
        x1: MARGIN,
        x2: PAGE_W - MARGIN,
        y,
    });
    y += 3.0;

    let payer = r.payer.map_or_else(|| "—".to_owned(), printable);
    let pairs: [[(&str, String); 2]; 3] = [
        [
            ("收据编号", printable(r.number)),
            ("支付时间", printable(r.paid_at)),
        ],
        [
            ("小区", printable(r.community)),
            ("房屋", printable(r.address)),
        ],
        [("付款人", payer), ("支付方式", printable(r.method))],
    ];
    let half = CONTENT_W / 2.0;
    for pair in pairs {
        let mut lines = 1;
        for (i, (label, value)) in pair.into_iter().enumerate() {
            let x = MARGIN + half * i as f32;
            lines = lines.max(field(face, items, x, y, half - 3.0, label, &value));
        }
        y += LEADING * lines as f32 + 1.0;
    }
    let ids = [("交易单号", r.transaction_id), ("参考号", r.reference)];
    for (label, value) in ids {
        if let Some(value) = value {
            let lines = field(face, items, MARGIN, y, CONTENT_W, label, &printable(value));
            y += LEADING * lines as f32 + 1.0;
        }
    }
    y + 3.0
}

/// A label and its value, the value wrapped to the room left; returns its line count.
fn field(
    face: &Face,
    items: &mut Vec<Item>,
    x: f32,
    y: f32,
    width: f32,
    label: &str,
    value: &str,
) -> usize {
    const LABEL_W: f32 = 20.0;
    let baseline = y + LEADING - 1.0;
    text(
        face,
        items,
        Align::Left,
        x,
        baseline,
        TEXT_SIZE,
        format!("{label}："),
    );
    let lines = face.wrap(value, TEXT_SIZE, width - LABEL_W);
    let count = lines.len();
    for (i, line) in lines.into_iter().enumerate() {
        let line_y = baseline + LEADING * i as f32;
        text(
            face,
            items,
            Align::Left,
            x + LABEL_W,
            line_y,
            TEXT_SIZE,
            line,
        );
    }
    count
}

/// The short header of a page after the first; returns where its content starts.
fn continuation_header(r: &ReceiptPdf<'_>, items: &mut Vec<Item>) -> f32 {
    let y = MARGIN + 5.0;
    let title = format!("收据 RECEIPT（续）    收据编号 {}", printable(r.number));
    items.push(Item::Text {
        x: MARGIN,
        y,
        size: TEXT_SIZE,
        text: title,
    });
    items.push(Item::Rule {
        x1: MARGIN,
        x2: PAGE_W - MARGIN,
        y: y + 3.0,
    });
    y + 7.0
}

/// The shaded row of column titles; returns where the first row starts.
fn table_header(face: &Face, items: &mut Vec<Item>, y: f32) -> f32 {
    let titles: Vec<Vec<String>> = COLUMNS
        .iter()
        .map(|col| vec![col.title.to_owned()])
        .collect();
    let height = row_height(&titles);
    items.push(Item::Shade {
        x: MARGIN,
        y,
        w: CONTENT_W,
        h: height,
    });
    items.push(Item::Rule {
        x1: MARGIN,
        x2: PAGE_W - MARGIN,
        y,
    });
    items.push(Item::Rule {
        x1: MARGIN,
        x2: PAGE_W - MARGIN,
        y: y + height,
    });
    cells(face, items, y, &titles);
    y + height
}

/// One line of the table, its cells already wrapped, and the rule below it.
fn table_row(face: &Face, items: &mut Vec<Item>, y: f32, wrapped: &[Vec<String>]) {
    cells(face, items, y, wrapped);
    let height = row_height(wrapped);
    items.push(Item::Rule {
        x1: MARGIN,
        x2: PAGE_W - MARGIN,
        y: y + height,
    });
}

/// Places each column's lines in its cell, aligned as the column says.
fn cells(face: &Face, items: &mut Vec<Item>, y: f32, columns: &[Vec<String>]) {
    let mut x = MARGIN;
    for (col, lines) in COLUMNS.iter().zip(columns) {
        let anchor = match col.align {
            Align::Left => x + CELL_PAD_X,
            Align::Right => x + col.width - CELL_PAD_X,
            Align::Center => x + col.width / 2.0,
        };
        for (i, line) in lines.iter().enumerate() {
            let baseline = y + CELL_PAD_Y + LEADING * (i + 1) as f32 - 1.3;
            text(
                face,
                items,
                col.align,
                anchor,
                baseline,
                TABLE_SIZE,
                line.clone(),
            );
        }
        x += col.width;
    }
}

/// The total in figures and in capitals, and the line for the company's seal.
fn totals(face: &Face, r: &ReceiptPdf<'_>, items: &mut Vec<Item>, y: f32) {
    let right = PAGE_W - MARGIN - CELL_PAD_X;
    let y = y + 7.0;
    text(
        face,
        items,
        Align::Left,
        MARGIN + CELL_PAD_X,
        y,
        11.0,
        "合计".to_owned(),
    );
    text(
        face,
        items,
        Align::Right,
        right,
        y,
        12.0,
        format!("¥{}", yuan(r.total_fen)),
    );
    let y = y + 7.0;
    let capitals = format!("金额大写：人民币{}", capital_amount(r.total_fen));
    text(
        face,
        items,
        Align::Left,
        MARGIN + CELL_PAD_X,
        y,
        TEXT_SIZE,
        capitals,
    );
    let y = y + 12.0;
    let seal = format!("收款单位（盖章）：{}", printable(r.company));
    text(
        face,
        items,
        Align::Left,
        MARGIN + CELL_PAD_X,
        y,
        TEXT_SIZE,
        seal,
    );
}

/// Adds a line of text; `x` is its left edge, right edge or centre as `align` says.
fn text(face: &Face, items: &mut Vec<Item>, align: Align, x: f32, y: f32, size: f32, text: String) {
    let x = match align {
        Align::Left => x,
        Align::Right => x - face.width(&text, size),
        Align::Center => x - face.width(&text, size) / 2.0,
    };
    items.push(Item::Text { x, y, size, text });
}

/// A font with only the glyphs this document draws (and .notdef, which must stay first).
fn subset_font(face: &Face, used: &BTreeSet<char>) -> Result<ParsedFont, PdfError> {
    let glyphs: BTreeSet<u16> = used.iter().filter_map(|&c| face.glyph(c)).collect();
    let ids: Vec<u16> = std::iter::once(0).chain(glyphs).collect();
    let font_data = ReadScope::new(FONT_TTF)
        .read::<FontData<'_>>()
        .map_err(|e| PdfError::Font(e.to_string()))?;
    let provider = font_data
        .table_provider(0)
        .map_err(|e| PdfError::Font(e.to_string()))?;
    let bytes = allsorts::subset::subset(&provider, &ids, &SubsetProfile::Pdf, CmapTarget::Unicode)
        .map_err(|e| PdfError::Font(e.to_string()))?;
    let mut warnings = Vec::new();
    ParsedFont::from_bytes(&bytes, 0, &mut warnings)
        .ok_or_else(|| PdfError::Font(format!("the subset font does not parse: {warnings:?}")))
}

fn page(font: &FontId, items: Vec<Item>) -> PdfPage {
    let point = |x: f32, y: f32| Point::new(Mm(x), Mm(PAGE_H - y));
    let mut ops = vec![
        Op::SetOutlineColor {
            col: Color::Greyscale(Greyscale::new(0.4, None)),
        },
        Op::SetOutlineThickness { pt: Pt(0.5) },
    ];
    for item in items {
        match item {
            // Each run gets its own text object: Td moves relative to the line start, and a
            // fresh BT resets it to the origin.
            Item::Text { x, y, size, text } => ops.extend([
                Op::StartTextSection,
                Op::SetFont {
                    font: PdfFontHandle::External(font.clone()),
                    size: Pt(size),
                },
                Op::SetTextCursor { pos: point(x, y) },
                Op::ShowText {
                    items: vec![TextItem::Text(text)],
                },
                Op::EndTextSection,
            ]),
            Item::Rule { x1, x2, y } => ops.push(Op::DrawLine {
                line: Line {
                    points: vec![
                        LinePoint {
                            p: point(x1, y),
                            bezier: false,
                        },
                        LinePoint {
                            p: point(x2, y),
                            bezier: false,
                        },
                    ],
                    is_closed: false,
                },
            }),
            Item::Shade { x, y, w, h } => ops.extend([
                Op::SaveGraphicsState,
                Op::SetFillColor {
                    col: Color::Greyscale(Greyscale::new(0.92, None)),
                },
                Op::DrawRectangle {
                    rectangle: Rect {
                        mode: Some(PaintMode::Fill),
                        ..Rect::from_xywh(
                            Mm(x).into(),
                            Mm(PAGE_H - y - h).into(),
                            Mm(w).into(),
                            Mm(h).into(),
                        )
                    },
                },
                Op::RestoreGraphicsState,
            ]),
        }
    }
    PdfPage::new(Mm(PAGE_W), Mm(PAGE_H), ops)
}
