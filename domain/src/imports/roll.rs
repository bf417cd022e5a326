//! The household roll as property companies keep it: a CSV file with one row per household
//! and resident.

use std::collections::HashMap;

use chrono::NaiveDate;

use super::{Columns, RowError, Sheet};
use crate::{
    org::{FloorArea, Label, RoomNumber},
    people::{Locale, MembershipRole, PersonName, PhoneNumber},
};

/// One valid row of the roll.
#[derive(Debug, Clone, PartialEq)]
pub struct RollRow {
    /// Row number in the file, the header being row 1.
    pub row: usize,
    /// The household.
    pub household: RollHousehold,
    /// The resident living there, if the row names one.
    pub resident: Option<RollResident>,
}

/// A household as the roll describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct RollHousehold {
    /// Building (楼栋).
    pub building: Label,
    /// Unit (单元).
    pub unit: Label,
    /// Room number (房号).
    pub room: RoomNumber,
    /// Floor (楼层), if given.
    pub floor: Option<i32>,
    /// Floor area (面积).
    pub area: FloorArea,
}

/// A resident as the roll describes them.
#[derive(Debug, Clone, PartialEq)]
pub struct RollResident {
    /// Name (姓名).
    pub name: PersonName,
    /// Mobile number (手机).
    pub phone: PhoneNumber,
    /// Membership (身份), owner by default.
    pub role: MembershipRole,
    /// Birthday (生日), if given.
    pub birthday: Option<NaiveDate>,
    /// Locale (语言), zh-CN by default.
    pub locale: Locale,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Column {
    Building,
    Unit,
    Room,
    Floor,
    Area,
    Name,
    Phone,
    Role,
    Birthday,
    Locale,
}

impl Columns for Column {
    const REQUIRED: &'static [Column] =
        &[Column::Building, Column::Unit, Column::Room, Column::Area];

    fn from_header(header: &str) -> Option<Self> {
        Some(match header.trim().to_lowercase().as_str() {
            "building" | "楼栋" | "楼号" => Column::Building,
            "unit" | "单元" => Column::Unit,
            "room" | "room_number" | "房号" | "房间号" => Column::Room,
            "floor" | "楼层" => Column::Floor,
            "area_m2" | "area" | "面积" | "建筑面积" => Column::Area,
            "name" | "resident_name" | "姓名" => Column::Name,
            "phone" | "mobile" | "手机" | "手机号" | "电话" => Column::Phone,
            "role" | "身份" => Column::Role,
            "birthday" | "生日" => Column::Birthday,
            "locale" | "语言" => Column::Locale,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Column::Building => "building",
            Column::Unit => "unit",
            Column::Room => "room",
            Column::Floor => "floor",
            Column::Area => "area_m2",
            Column::Name => "name",
            Column::Phone => "phone",
            Column::Role => "role",
            Column::Birthday => "birthday",
            Column::Locale => "locale",
        }
    }
}

/// Where a household was first described: its row, floor and area.
type FirstSeen = (usize, Option<i32>, FloorArea);

/// Parses a roll: UTF-8 with or without a byte-order mark, a header row naming the columns
/// (English or Chinese), then one row per household and resident.
pub fn parse_roll(bytes: &[u8]) -> Result<Vec<RollRow>, Vec<RowError>> {
    let sheet = Sheet::<Column>::open(bytes)?;
    if sheet.has(Column::Name) != sheet.has(Column::Phone) {
        return Err(RowError::header("name and phone columns go together"));
    }

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    // Conflicts across rows: one household described twice with other facts, one resident
    // named twice in one household.
    let mut households: HashMap<(String, String, String), FirstSeen> = HashMap::new();
    let mut members: HashMap<(String, String, String, String), usize> = HashMap::new();
    let mut names: HashMap<String, (usize, String)> = HashMap::new();

    sheet.each(&mut errors, |record, errors| {
        let row = record.row;
        let before = errors.len();
        let get = |c: Column| record.get(c);
        let mut fail = |c: Column, reason: String| errors.push(record.error(c, reason));

        let building = Label::parse(get(Column::Building))
            .map_err(|e| fail(Column::Building, e.0))
            .ok();
        let unit = Label::parse(get(Column::Unit))
            .map_err(|e| fail(Column::Unit, e.0))
            .ok();
        let room = RoomNumber::parse(get(Column::Room))
            .map_err(|e| fail(Column::Room, e.0))
            .ok();
        let area = FloorArea::parse(get(Column::Area))
            .map_err(|e| fail(Column::Area, e.0))
            .ok();
        let floor = match get(Column::Floor) {
            "" => None,
            raw => match raw.parse::<i32>() {
                Ok(floor) if (-10..=300).contains(&floor) => Some(floor),
                _ => {
                    fail(
                        Column::Floor,
                        "a floor is a whole number from -10 to 300".into(),
                    );
                    None
                }
            },
        };
        let resident = match (get(Column::Name), get(Column::Phone)) {
            ("", "") => None,
            (name, phone) => {
                let name = PersonName::parse(name)
                    .map_err(|e| fail(Column::Name, e.0))
                    .ok();
                let phone = PhoneNumber::parse(phone)
                    .map_err(|e| fail(Column::Phone, e.0))
                    .ok();
                let role = match get(Column::Role) {
                    "" => Some(MembershipRole::Owner),
                    "业主" => Some(MembershipRole::Owner),
                    "租户" => Some(MembershipRole::Tenant),
                    "家属" | "家庭成员" => Some(MembershipRole::Family),
                    raw => MembershipRole::parse(raw)
                        .map_err(|e| fail(Column::Role, e.0))
                        .ok(),
                };
                let birthday = match get(Column::Birthday) {
                    "" => Some(None),
                    raw => parse_date(raw)
                        .map(Some)
                        .map_err(|e| fail(Column::Birthday, e))
                        .ok(),
                };
                let locale = match get(Column::Locale) {
                    "" => Some(Locale::ZhCn),
                    raw => Locale::parse(raw)
                        .map_err(|e| fail(Column::Locale, e.0))
                        .ok(),
                };
                match (name, phone, role, birthday, locale) {
                    (Some(name), Some(phone), Some(role), Some(birthday), Some(locale)) => {
                        Some(RollResident {
                            name,
                            phone,
                            role,
                            birthday,
                            locale,
                        })
                    }
                    _ => None,
                }
            }
        };
        if errors.len() > before {
            return;
        }
        let (Some(building), Some(unit), Some(room), Some(area)) = (building, unit, room, area)
        else {
            return;
        };
        let key = (
            building.as_str().to_owned(),
            unit.as_str().to_owned(),
            room.as_str().to_owned(),
        );
        match households.get(&key) {
            Some(&(first, first_floor, first_area))
                if first_floor != floor || first_area != area =>
            {
                errors.push(RowError {
                    row,
                    column: Column::Area.name().into(),
                    reason: format!(
                        "household {}/{}/{} is described differently in row {first}",
                        key.0, key.1, key.2
                    ),
                });
                return;
            }
            Some(_) => {}
            None => {
                households.insert(key.clone(), (row, floor, area));
            }
        }
        if let Some(resident) = &resident {
            let phone = resident.phone.as_str().to_owned();
            let member_key = (key.0.clone(), key.1.clone(), key.2.clone(), phone.clone());
            if let Some(first) = members.insert(member_key, row) {
                errors.push(RowError {
                    row,
                    column: Column::Phone.name().into(),
                    reason: format!(
                        "this resident is already listed for this household in row {first}"
                    ),
                });
                return;
            }
            match names.get(&phone) {
                Some((first, name)) if name != resident.name.as_str() => {
                    errors.push(RowError {
                        row,
                        column: Column::Name.name().into(),
                        reason: format!(
                            "phone {} is named `{name}` in row {first}",
                            resident.phone.masked()
                        ),
                    });
                    return;
                }
                Some(_) => {}
                None => {
                    names.insert(phone, (row, resident.name.as_str().to_owned()));
                }
            }
        }
        rows.push(RollRow {
            row,
            household: RollHousehold {
                building,
                unit,
                room,
                floor,
                area,
            },
            resident,
        });
    });
    if !errors.is_empty() {
        return Err(errors);
    }
    if rows.is_empty() {
        return Err(vec![RowError {
            row: 1,
            column: String::new(),
            reason: "the roll has no data rows".into(),
        }]);
    }
    Ok(rows)
}

fn parse_date(raw: &str) -> Result<NaiveDate, String> {
    ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(raw, format).ok())
        .ok_or_else(|| format!("`{raw}` is not a date such as 1980-05-17"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "building,unit,room,floor,area_m2,name,phone,role,birthday,locale\n";

    #[test]
    fn parses_rows_with_and_without_residents() {
        let csv = format!(
            "{HEADER}3栋,1单元,1203,12,89.5,张三,13812341234,owner,1980-05-17,zh-CN\n3栋,1单元,1204,12,120,,,,,\n"
        );
        let rows = parse_roll(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].row, 2);
        assert_eq!(rows[0].household.area.centi_m2(), 8950);
        let resident = rows[0].resident.as_ref().unwrap();
        assert_eq!(resident.phone.as_str(), "13812341234");
        assert_eq!(resident.birthday, NaiveDate::from_ymd_opt(1980, 5, 17));
        assert!(rows[1].resident.is_none());
    }

    #[test]
    fn accepts_a_byte_order_mark_and_chinese_headers() {
        let csv = "\u{feff}楼栋,单元,房号,面积,姓名,手机,身份\n1栋,2单元,301,75.25,李四,+86 139 0000 1111,租户\n";
        let rows = parse_roll(csv.as_bytes()).unwrap();
        let resident = rows[0].resident.as_ref().unwrap();
        assert_eq!(resident.role, MembershipRole::Tenant);
        assert_eq!(resident.phone.as_str(), "13900001111");
    }

    #[test]
    fn reports_every_bad_row_with_its_column() {
        let csv = format!(
            "{HEADER}3栋,1单元,1203,12,-1,张三,13812341234,,,\n3栋,1单元,1204,x,80,王五,12345,boss,1980-13-01,fr\n"
        );
        let errors = parse_roll(csv.as_bytes()).unwrap_err();
        let found: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(
            found,
            [
                (2, "area_m2"),
                (3, "floor"),
                (3, "phone"),
                (3, "role"),
                (3, "birthday"),
                (3, "locale")
            ]
        );
    }

    #[test]
    fn refuses_conflicting_descriptions() {
        let csv = format!(
            "{HEADER}3栋,1单元,1203,12,89.5,张三,13812341234,,,\n3栋,1单元,1203,12,90,李四,13900001111,,,\n"
        );
        let errors = parse_roll(csv.as_bytes()).unwrap_err();
        assert_eq!(errors[0].row, 3);
        let csv = format!(
            "{HEADER}3栋,1单元,1203,12,89.5,张三,13812341234,,,\n3栋,1单元,1204,12,90,张叁,13812341234,,,\n"
        );
        let errors = parse_roll(csv.as_bytes()).unwrap_err();
        assert_eq!((errors[0].row, errors[0].column.as_str()), (3, "name"));
        let csv = format!(
            "{HEADER}3栋,1单元,1203,12,89.5,张三,13812341234,,,\n3栋,1单元,1203,12,89.5,张三,13812341234,,,\n"
        );
        assert_eq!(parse_roll(csv.as_bytes()).unwrap_err()[0].column, "phone");
    }

    #[test]
    fn refuses_bad_headers_and_encodings() {
        assert_eq!(
            parse_roll(b"building,unit,room\n").unwrap_err()[0].reason,
            "missing columns: area_m2"
        );
        assert!(
            parse_roll(b"building,unit,room,area_m2,colour\n").unwrap_err()[0]
                .reason
                .contains("colour")
        );
        assert!(
            parse_roll(b"building,unit,room,area_m2\n").unwrap_err()[0]
                .reason
                .contains("no data")
        );
        let errors = parse_roll(b"building,unit,room,area_m2\n\xC8\xFD,1,101,80\n").unwrap_err();
        assert!(errors[0].reason.contains("UTF-8"), "{errors:?}");
    }
}
