//! Meter readings as the meter readers hand them in: a CSV file with one row per
//! household, meter and month (`building,unit,room,meter,period,reading`, or 楼栋, 单元,
//! 房号, 表, 月份, 读数), and an optional `replaced_from` (换表起数) for a meter fitted
//! this month. The file is checked here on its own; whether each household exists and each
//! reading fits the meter's previous one is checked against the store.

use std::collections::HashMap;

use super::{Columns, RowError, Sheet};
use crate::{
    fees::{
        Quantity,
        bills::{Period, Reading},
        items::Meter,
    },
    org::{Label, RoomNumber},
};

/// One valid row.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadingRow {
    /// Row number in the file, the header being row 1.
    pub row: usize,
    /// Building (楼栋).
    pub building: Label,
    /// Unit (单元).
    pub unit: Label,
    /// Room number (房号).
    pub room: RoomNumber,
    /// Which meter (表).
    pub meter: Meter,
    /// The month it is for (月份).
    pub period: Period,
    /// The value read, and a replacement's initial value.
    pub reading: Reading,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Column {
    Building,
    Unit,
    Room,
    Meter,
    Period,
    Reading,
    ReplacedFrom,
}

impl Columns for Column {
    const REQUIRED: &'static [Column] = &[
        Column::Building,
        Column::Unit,
        Column::Room,
        Column::Meter,
        Column::Period,
        Column::Reading,
    ];

    fn from_header(header: &str) -> Option<Self> {
        Some(match header.trim().to_lowercase().as_str() {
            "building" | "楼栋" | "楼号" => Column::Building,
            "unit" | "单元" => Column::Unit,
            "room" | "room_number" | "房号" | "房间号" => Column::Room,
            "meter" | "表" | "表类型" | "类型" => Column::Meter,
            "period" | "month" | "月份" | "账期" | "抄表月份" => Column::Period,
            "reading" | "value" | "读数" | "本期读数" => Column::Reading,
            "replaced_from" | "换表起数" | "新表起数" => Column::ReplacedFrom,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Column::Building => "building",
            Column::Unit => "unit",
            Column::Room => "room",
            Column::Meter => "meter",
            Column::Period => "period",
            Column::Reading => "reading",
            Column::ReplacedFrom => "replaced_from",
        }
    }
}

/// The meter a cell names: `water`/`power`/`gas` or 水/电/燃气.
fn meter(raw: &str) -> Result<Meter, String> {
    match raw {
        "水" | "水表" => Ok(Meter::Water),
        "电" | "电表" => Ok(Meter::Power),
        "气" | "燃气" | "燃气表" | "气表" => Ok(Meter::Gas),
        other => Meter::parse(&other.to_lowercase())
            .map_err(|_| format!("`{other}` is not a meter: water, power or gas (水, 电, 燃气)")),
    }
}

/// Parses a readings file: UTF-8 with or without a byte-order mark, a header row in English
/// or Chinese, one row per household, meter and month; a household's meter appears once a
/// month.
pub fn parse_readings(bytes: &[u8]) -> Result<Vec<ReadingRow>, Vec<RowError>> {
    let sheet = Sheet::<Column>::open(bytes)?;
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<(String, String, String, Meter, Period), usize> = HashMap::new();
    sheet.each(&mut errors, |record, errors| {
        let before = errors.len();
        let mut cell = |column: Column, parse: &dyn Fn(&str) -> Result<(), String>| {
            if let Err(reason) = parse(record.get(column)) {
                errors.push(record.error(column, reason));
            }
        };
        // Each cell is checked on its own so the report names every bad one.
        cell(Column::Building, &|v| {
            Label::parse(v).map(drop).map_err(|e| e.0)
        });
        cell(Column::Unit, &|v| {
            Label::parse(v).map(drop).map_err(|e| e.0)
        });
        cell(Column::Room, &|v| {
            RoomNumber::parse(v).map(drop).map_err(|e| e.0)
        });
        cell(Column::Meter, &|v| meter(v).map(drop));
        cell(Column::Period, &|v| {
            Period::parse(v).map(drop).map_err(|e| e.0)
        });
        cell(Column::Reading, &|v| {
            Quantity::parse(v).map(drop).map_err(|e| e.0)
        });
        cell(Column::ReplacedFrom, &|v| match v {
            "" => Ok(()),
            v => Quantity::parse(v).map(drop).map_err(|e| e.0),
        });
        if errors.len() > before {
            return;
        }
        let (Ok(building), Ok(unit), Ok(room), Ok(meter), Ok(period), Ok(value)) = (
            Label::parse(record.get(Column::Building)),
            Label::parse(record.get(Column::Unit)),
            RoomNumber::parse(record.get(Column::Room)),
            meter(record.get(Column::Meter)),
            Period::parse(record.get(Column::Period)),
            Quantity::parse(record.get(Column::Reading)),
        ) else {
            return;
        };
        let replacement = match record.get(Column::ReplacedFrom) {
            "" => None,
            v => Quantity::parse(v).ok(),
        };
        if replacement.is_some_and(|initial| value < initial) {
            errors.push(record.error(
                Column::Reading,
                "a new meter's reading is below its initial value (replaced_from)",
            ));
            return;
        }
        let key = (
            building.as_str().to_owned(),
            unit.as_str().to_owned(),
            room.as_str().to_owned(),
            meter,
            period,
        );
        if let Some(first) = seen.insert(key, record.row) {
            errors.push(record.error(
                Column::Meter,
                format!(
                    "this household's {} meter for {period} is already in row {first}",
                    meter.as_str()
                ),
            ));
            return;
        }
        rows.push(ReadingRow {
            row: record.row,
            building,
            unit,
            room,
            meter,
            period,
            reading: Reading { value, replacement },
        });
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    if rows.is_empty() {
        return Err(RowError::header("the file has no data rows"));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(v: &str) -> Quantity {
        Quantity::parse(v).unwrap()
    }

    #[test]
    fn reads_english_and_chinese_headers_with_or_without_a_bom() {
        let en = "building,unit,room,meter,period,reading\n3栋,1单元,1203,water,2026-11,120.5\n";
        let rows = parse_readings(en.as_bytes()).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].row, 2);
        assert_eq!(rows[0].meter, Meter::Water);
        assert_eq!(rows[0].reading.value, q("120.5"));
        assert_eq!(rows[0].reading.replacement, None);

        let zh = "\u{feff}楼栋,单元,房号,表,月份,读数,换表起数\n3栋,1单元,1203,电,2026-11,15,0\n3栋,1单元,1203,燃气,2026-11,7.25,\n";
        let rows = parse_readings(zh.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].meter, Meter::Power);
        assert_eq!(rows[0].reading.replacement, Some(q("0")));
        assert_eq!(rows[1].meter, Meter::Gas);
        assert_eq!(rows[1].period, Period::parse("2026-11").unwrap());
    }

    #[test]
    fn reports_every_bad_cell_with_its_row_and_column() {
        let csv = "building,unit,room,meter,period,reading\n\
                   3栋,1单元,1203,steam,2026-13,abc\n\
                   3栋,1单元,1204,water,2026-11,-1\n\
                   3栋,1单元,1205,water,2026-11,10\n";
        let errors = parse_readings(csv.as_bytes()).unwrap_err();
        let at: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(
            at,
            vec![(2, "meter"), (2, "period"), (2, "reading"), (3, "reading")]
        );
        assert!(errors[0].reason.contains("steam"), "{errors:?}");
    }

    #[test]
    fn refuses_a_meter_twice_a_month_and_a_new_meter_below_its_start() {
        let csv = "building,unit,room,meter,period,reading,replaced_from\n\
                   3栋,1单元,1203,water,2026-11,10,\n\
                   3栋,1单元,1203,水,2026-11,12,\n\
                   3栋,1单元,1203,water,2026-10,8,\n\
                   3栋,1单元,1204,power,2026-11,1,2\n";
        let errors = parse_readings(csv.as_bytes()).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!((errors[0].row, errors[0].column.as_str()), (3, "meter"));
        assert!(errors[0].reason.contains("row 2"), "{errors:?}");
        assert_eq!((errors[1].row, errors[1].column.as_str()), (5, "reading"));
    }

    #[test]
    fn refuses_a_bad_header_or_an_empty_file() {
        let missing = parse_readings(b"building,unit,room,meter,period\n").unwrap_err();
        assert_eq!(missing[0].row, 1);
        assert!(missing[0].reason.contains("reading"), "{missing:?}");
        let unknown = parse_readings("building,unit,room,meter,period,reading,颜色\n".as_bytes())
            .unwrap_err();
        assert!(unknown[0].reason.contains("颜色"), "{unknown:?}");
        let empty = parse_readings(b"building,unit,room,meter,period,reading\n\n").unwrap_err();
        assert!(empty[0].reason.contains("no data rows"), "{empty:?}");
        let latin1 = parse_readings(
            b"building,unit,room,meter,period,reading\n\xc8\xfd,1,1,water,2026-11,1\n",
        )
        .unwrap_err();
        assert_eq!(latin1[0].row, 2);
        assert!(latin1[0].reason.contains("UTF-8"), "{latin1:?}");
    }
}
