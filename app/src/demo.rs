//! Demo data for the README's first command: one company, one community with buildings,
//! units and households, residents and a staff member of every role. Seeding is idempotent.

use chrono::NaiveDate;
use courtyard_domain::{
    Clock,
    auth::Password,
    entities::{
        bill_run, building, butler_assignment, community, company, fee_item, household,
        household_member, meter_reading, outbox_entry, resident, service, service_team, staff,
        staff_community, unit,
    },
    fees::{
        Band, Quantity, Tiers, UnitPrice,
        bills::{BillRunState, Period},
        items::{FeeKind, Meter, store_tiers},
    },
    jobs::{BillRun, OutboxJob},
    new_id,
    org::Timezone,
    people::{PhoneNumber, StaffRole},
};
use courtyard_providers::login_codes::{CodeSender, LogCodeSender};
use sea_orm::prelude::Uuid;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, TransactionTrait,
};
use serde_json::json;

/// What [`seed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seeded {
    /// The demo data was written now.
    Created,
    /// The database already held it (an earlier `demo` in the same directory).
    Reused,
}

/// Shows login codes on the demo's own output, one highlighted line each, as well as in the
/// log: the demo has no SMS provider, and a code lost among request logs is hard to find.
pub struct DemoCodeSender;

#[async_trait::async_trait]
impl CodeSender for DemoCodeSender {
    async fn send_login_code(&self, phone: &PhoneNumber, code: &str) -> anyhow::Result<()> {
        LogCodeSender.send_login_code(phone, code).await?;
        let line = format!("LOGIN CODE for {}: {code}", phone.masked());
        if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
            println!("\n    \x1b[1;30;43m {line} \x1b[0m\n");
        } else {
            println!("\n    >>> {line} <<<\n");
        }
        Ok(())
    }

    fn delivers(&self) -> bool {
        false
    }
}

/// The demo company's name.
pub const COMPANY: &str = "Courtyard Demo Property Co. 庭院物业";

/// A demo login, printed at start-up.
pub struct DemoLogin {
    /// Who.
    pub who: &'static str,
    /// Username or phone.
    pub login: &'static str,
    /// Password, or how to get the code.
    pub secret: &'static str,
}

/// The demo logins.
pub const LOGINS: &[DemoLogin] = &[
    DemoLogin {
        who: "admin",
        login: "admin",
        secret: "courtyard-admin",
    },
    DemoLogin {
        who: "supervisor",
        login: "supervisor",
        secret: "courtyard-demo",
    },
    DemoLogin {
        who: "front desk",
        login: "frontdesk",
        secret: "courtyard-demo",
    },
    DemoLogin {
        who: "butler",
        login: "butler.wang",
        secret: "courtyard-demo",
    },
    DemoLogin {
        who: "engineer",
        login: "engineer.li",
        secret: "courtyard-demo",
    },
    DemoLogin {
        who: "cleaner (service teams)",
        login: "cleaner.zhao",
        secret: "courtyard-demo",
    },
    DemoLogin {
        who: "resident 张伟 (3栋 1单元 1201)",
        login: "13800000001",
        secret: "SMS code: printed as LOGIN CODE",
    },
    DemoLogin {
        who: "resident Emma Li (3栋 1单元 1202, en)",
        login: "13800000002",
        secret: "SMS code: printed as LOGIN CODE",
    },
];

/// Seeds the demo data unless it is already there.
pub async fn seed(db: &DatabaseConnection, clock: &dyn Clock) -> anyhow::Result<Seeded> {
    if company::Entity::find()
        .filter(company::Column::Name.eq(COMPANY))
        .one(db)
        .await?
        .is_some()
    {
        return Ok(Seeded::Reused);
    }
    let now = clock.now();
    let hash_of = |p: &str| {
        Password::parse(p)
            .map_err(|e| anyhow::anyhow!(e))
            .and_then(|p| p.hash())
    };
    let admin_hash = hash_of("courtyard-admin")?;
    let staff_hash = hash_of("courtyard-demo")?;
    let txn = db.begin().await?;
    let company_id = new_id();
    company::ActiveModel {
        id: Set(company_id),
        name: Set(COMPANY.into()),
        created_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let community_id = new_id();
    community::ActiveModel {
        id: Set(community_id),
        company_id: Set(company_id),
        name: Set("翠湖花园 Emerald Lake Garden".into()),
        address: Set(Some("上海市浦东新区翠湖路 88 号".into())),
        timezone: Set("Asia/Shanghai".into()),
        work_start: Set("08:30".into()),
        work_end: Set("17:30".into()),
        work_days: Set(json!([1, 2, 3, 4, 5, 6])),
        holidays: Set(json!([
            "2027-01-01",
            "2027-02-06",
            "2027-02-07",
            "2027-02-08"
        ])),
        ticket_policy: Set(None),
        fee_policy: Set(None),
        reminder_policy: Set(None),
        service_policy: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    let mut households = Vec::new();
    let mut first_building = None;
    for b in ["3栋", "5栋"] {
        let building_id = new_id();
        first_building.get_or_insert(building_id);
        building::ActiveModel {
            id: Set(building_id),
            community_id: Set(community_id),
            name: Set(b.into()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
        for u in ["1单元", "2单元"] {
            let unit_id = new_id();
            unit::ActiveModel {
                id: Set(unit_id),
                community_id: Set(community_id),
                building_id: Set(building_id),
                name: Set(u.into()),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
            for (room, floor, area) in [
                ("1201", 12, 8950),
                ("1202", 12, 12000),
                ("1301", 13, 8950),
                ("1302", 13, 12000),
            ] {
                let id = new_id();
                household::ActiveModel {
                    id: Set(id),
                    community_id: Set(community_id),
                    building_id: Set(building_id),
                    unit_id: Set(unit_id),
                    room_number: Set(room.into()),
                    floor: Set(Some(floor)),
                    floor_area_centi_m2: Set(area),
                    parking_spaces: Set(0),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(&txn)
                .await?;
                households.push(id);
            }
        }
    }
    let residents = [
        (
            "张伟",
            "13800000001",
            NaiveDate::from_ymd_opt(1982, 11, 26),
            "zh-CN",
            0,
            "owner",
        ),
        (
            "Emma Li",
            "13800000002",
            NaiveDate::from_ymd_opt(1990, 3, 8),
            "en",
            1,
            "tenant",
        ),
        ("王芳", "13800000003", None, "zh-CN", 0, "family"),
    ];
    for (name, phone, birthday, locale, household, role) in residents {
        let id = new_id();
        resident::ActiveModel {
            id: Set(id),
            company_id: Set(company_id),
            name: Set(name.into()),
            phone: Set(phone.into()),
            birthday: Set(birthday),
            locale: Set(locale.into()),
            wechat_openid: Set(None),
            quiet_start: Set(None),
            quiet_end: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            erased_at: Set(None),
        }
        .insert(&txn)
        .await?;
        household_member::ActiveModel {
            household_id: Set(households[household]),
            resident_id: Set(id),
            community_id: Set(community_id),
            role: Set(role.into()),
            created_at: Set(now),
        }
        .insert(&txn)
        .await?;
    }
    let members = [
        ("庭院管理员", "admin", StaffRole::Admin, &admin_hash),
        ("周主管", "supervisor", StaffRole::Supervisor, &staff_hash),
        ("陈前台", "frontdesk", StaffRole::FrontDesk, &staff_hash),
        ("王管家", "butler.wang", StaffRole::Butler, &staff_hash),
        ("李师傅", "engineer.li", StaffRole::Engineer, &staff_hash),
        ("赵阿姨", "cleaner.zhao", StaffRole::Cleaner, &staff_hash),
        ("孙师傅", "gardener.sun", StaffRole::Gardener, &staff_hash),
    ];
    let mut admin_id = None;
    let mut leads = std::collections::HashMap::new();
    for (name, username, role, hash) in members {
        let id = new_id();
        if role == StaffRole::Admin {
            admin_id = Some(id);
        }
        leads.insert(role, id);
        staff::ActiveModel {
            id: Set(id),
            company_id: Set(company_id),
            name: Set(name.into()),
            username: Set(username.into()),
            phone: Set(None),
            password_hash: Set(hash.clone()),
            role: Set(role.as_str().into()),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&txn)
        .await?;
        if role != StaffRole::Admin {
            staff_community::ActiveModel {
                staff_id: Set(id),
                community_id: Set(community_id),
            }
            .insert(&txn)
            .await?;
        }
        if role == StaffRole::Butler {
            butler_assignment::ActiveModel {
                id: Set(new_id()),
                staff_id: Set(id),
                community_id: Set(community_id),
                building_id: Set(first_building),
                household_id: Set(None),
                created_at: Set(now),
            }
            .insert(&txn)
            .await?;
        }
    }
    if let Some(admin) = admin_id {
        fees(&txn, community_id, &households, admin, clock).await?;
    }
    if let (Some(cleaner), Some(gardener)) = (
        leads.get(&StaffRole::Cleaner),
        leads.get(&StaffRole::Gardener),
    ) {
        services(&txn, community_id, *cleaner, *gardener, clock).await?;
    }
    txn.commit().await?;
    tracing::info!("demo data seeded");
    Ok(Seeded::Created)
}

/// The demo community's fees: 物业费 per m², tiered water, power, a fixed refuse fee; two
/// months of meter readings for the first households; and last month's bill run, queued
/// for the workers (residents find an open bill to pay once it has run).
async fn fees(
    txn: &DatabaseTransaction,
    community_id: Uuid,
    households: &[Uuid],
    admin: Uuid,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let now = clock.now();
    let price = |yuan: &str| UnitPrice::parse_yuan(yuan).map_err(|e| anyhow::anyhow!(e.0));
    let flat = |yuan: &str| price(yuan).map(Tiers::flat);
    let water = Tiers::new(vec![
        Band {
            up_to: Some(Quantity::units(18).map_err(|e| anyhow::anyhow!(e.0))?),
            price: price("3.45")?,
        },
        Band {
            up_to: None,
            price: price("4.83")?,
        },
    ])
    .map_err(|e| anyhow::anyhow!(e.0))?;
    let items = [
        ("物业费", FeeKind::Area, None, flat("2.35")?),
        ("水费", FeeKind::Metered, Some(Meter::Water), water),
        (
            "电费",
            FeeKind::Metered,
            Some(Meter::Power),
            flat("0.5283")?,
        ),
        ("垃圾清运费", FeeKind::Fixed, None, flat("10")?),
    ];
    for (name, kind, meter, tiers) in items {
        fee_item::ActiveModel {
            id: Set(new_id()),
            community_id: Set(community_id),
            name: Set(name.into()),
            kind: Set(kind.as_str().into()),
            meter: Set(meter.map(|m| m.as_str().into())),
            tiers: Set(store_tiers(&tiers)),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
    }
    let tz = Timezone::parse("Asia/Shanghai")
        .map_err(|e| anyhow::anyhow!(e.0))?
        .tz();
    let today = now.with_timezone(&tz).date_naive();
    let period = Period::of(today).minus_months(1);
    for (n, household) in households.iter().take(4).enumerate() {
        let n = n as i64;
        for (meter, before, used) in [
            (Meter::Water, 1_000_000, 12_500 + n * 4_000),
            (Meter::Power, 3_000_000, 180_000 + n * 25_300),
        ] {
            for (month, value) in [(period.minus_months(1), before), (period, before + used)] {
                meter_reading::ActiveModel {
                    id: Set(new_id()),
                    community_id: Set(community_id),
                    household_id: Set(*household),
                    meter: Set(meter.as_str().into()),
                    period: Set(month.to_string()),
                    value_milli: Set(value),
                    initial_milli: Set(None),
                    source: Set("manual".into()),
                    entered_by: Set(Some(admin)),
                    created_at: Set(now),
                    updated_at: Set(now),
                }
                .insert(txn)
                .await?;
            }
        }
    }
    let run_id = new_id();
    bill_run::ActiveModel {
        id: Set(run_id),
        community_id: Set(community_id),
        period: Set(period.to_string()),
        state: Set(BillRunState::Queued.as_str().into()),
        requested_by: Set(admin),
        households_total: Set(0),
        households_done: Set(0),
        bills_created: Set(0),
        readings_missing: Set(0),
        error: Set(None),
        created_at: Set(now),
        started_at: Set(None),
        heartbeat_at: Set(None),
        finished_at: Set(None),
    }
    .insert(txn)
    .await?;
    // The run's job, as `POST /v1/communities/{id}/bill-runs` writes it.
    outbox_entry::ActiveModel {
        id: Set(new_id()),
        kind: Set(BillRun::KIND.into()),
        payload: Set(serde_json::to_value(BillRun {
            run_id,
            outbox_id: None,
        })?),
        available_at: Set(now),
        created_at: Set(now),
        relayed_at: Set(None),
    }
    .insert(txn)
    .await?;
    Ok(())
}

/// The demo community's price list (服务收费标准): hourly and deep cleaning, a weekly
/// cleaning package, quoted greenery work and laundry by the item, with the teams that do
/// them (the cleaner leads cleaning and laundry, the gardener greenery).
async fn services(
    txn: &DatabaseTransaction,
    community_id: Uuid,
    cleaner: Uuid,
    gardener: Uuid,
    clock: &dyn Clock,
) -> anyhow::Result<()> {
    let now = clock.now();
    let mut teams = Vec::new();
    for (name, department, leader, size, minutes) in [
        ("保洁组", "cleaning", cleaner, 2, 120),
        ("绿化组", "greenery", gardener, 1, 240),
        ("洗衣组", "cleaning", cleaner, 3, 120),
    ] {
        let id = new_id();
        service_team::ActiveModel {
            id: Set(id),
            community_id: Set(community_id),
            name: Set(name.into()),
            department: Set(department.into()),
            leader_id: Set(leader),
            size: Set(size),
            slot_minutes: Set(minutes),
            active: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
        teams.push((id, minutes));
    }
    // (team, category, name, description, pricing, price, minimum, pay, visits)
    let list = [
        (
            0,
            "cleaning",
            "日常保洁（钟点）",
            "地面、厨房、卫生间清洁，自带工具；两小时起",
            "per_hour",
            Some(5_000),
            2,
            "after",
            None,
        ),
        (
            0,
            "cleaning",
            "深度保洁（全屋）",
            "全屋深度清洁含玻璃、油烟机外表，约两小时；下单即付",
            "fixed",
            Some(38_000),
            1,
            "before",
            None,
        ),
        (
            0,
            "cleaning",
            "包月保洁（每周一次）",
            "每周固定时段上门一次，每月四次；未用次数月底作废",
            "package",
            Some(40_000),
            1,
            "before",
            Some(4),
        ),
        (
            1,
            "greenery",
            "庭院绿化修剪",
            "修剪、除草、补种；上门查看后报价，业主确认后施工",
            "quoted",
            None,
            1,
            "after",
            None,
        ),
        (
            2,
            "laundry",
            "洗衣（按件）",
            "上门取件，逐件登记衣物状况，洗后送回；按件计费",
            "per_item",
            Some(1_500),
            1,
            "after",
            None,
        ),
    ];
    for (position, (team, category, name, description, pricing, price, minimum, pay, visits)) in
        list.into_iter().enumerate()
    {
        let (team_id, minutes) = teams[team];
        service::ActiveModel {
            id: Set(new_id()),
            community_id: Set(community_id),
            team_id: Set(team_id),
            category: Set(category.into()),
            name: Set(name.into()),
            description: Set(description.into()),
            pricing: Set(pricing.into()),
            price_fen: Set(price),
            min_quantity: Set(minimum),
            duration_minutes: Set(minutes),
            pay: Set(pay.into()),
            photos: Set(json!([])),
            active: Set(true),
            visits_per_month: Set(visits),
            position: Set(position as i32 + 1),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(txn)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use courtyard_domain::{ManualClock, settings::Settings};
    use sea_orm::{EntityTrait, PaginatorTrait};

    use super::*;

    #[tokio::test]
    async fn the_demo_has_its_price_list_and_seeds_once() {
        let mut settings = Settings::default();
        settings.database.url = "sqlite::memory:".to_owned().into();
        settings.database.max_connections = 1;
        let db = courtyard_api::startup::connect_and_migrate(&settings)
            .await
            .unwrap();
        let clock = ManualClock::new(chrono::Utc::now());
        assert!(matches!(seed(&db, &clock).await.unwrap(), Seeded::Created));
        let services = service::Entity::find().all(&db).await.unwrap();
        let pricing: Vec<&str> = services.iter().map(|s| s.pricing.as_str()).collect();
        for p in ["per_hour", "fixed", "package", "quoted", "per_item"] {
            assert!(pricing.contains(&p), "{p} missing from {pricing:?}");
        }
        let package = services.iter().find(|s| s.pricing == "package").unwrap();
        assert_eq!(package.visits_per_month, Some(4));
        assert_eq!(service_team::Entity::find().count(&db).await.unwrap(), 3);
        assert!(matches!(seed(&db, &clock).await.unwrap(), Seeded::Reused));
        assert_eq!(service::Entity::find().count(&db).await.unwrap(), 5);
    }
}
