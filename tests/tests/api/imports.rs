//! The roll import: whole-file validation, nothing half-imported, re-import updates.

use courtyard_tests::{TestApp, spawn_app};
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

async fn community(app: &TestApp) -> (String, Uuid) {
    let (_, admin) = app.bootstrap_admin("Co").await;
    let id = app
        .create_community(&admin.access, &json!({ "name": "翠湖" }))
        .await
        .expect(201)
        .id();
    (admin.access, id)
}

async fn import(
    app: &TestApp,
    token: &str,
    community: Uuid,
    csv: &str,
    query: &str,
) -> courtyard_tests::Reply {
    app.request_raw(
        Method::POST,
        &format!("/v1/communities/{community}/roll-imports{query}"),
        Some(token),
        "text/csv; charset=utf-8",
        csv.as_bytes().to_vec(),
    )
    .await
}

const ROLL: &str = "\u{feff}楼栋,单元,房号,楼层,面积,姓名,手机,身份,生日\n\
3栋,1单元,1201,12,89.5,张三,13812341234,业主,1980-05-17\n\
3栋,1单元,1201,12,89.5,王芳,13812340000,家属,\n\
3栋,2单元,1202,12,120,Emma Li,13900001111,tenant,1990/03/08\n\
5栋,1单元,101,1,75.25,,,,\n";

#[tokio::test]
async fn a_roll_creates_buildings_units_households_and_residents() {
    let app = spawn_app().await;
    let (token, community) = community(&app).await;
    let report = import(&app, &token, community, ROLL, "").await.expect(200);
    assert_eq!(
        report.body,
        json!({
            "rows": 4, "dry_run": false,
            "buildings_created": 2, "units_created": 3, "households_created": 3, "households_updated": 0,
            "residents_created": 3, "residents_updated": 0, "memberships_created": 3, "memberships_updated": 0,
        })
    );
    let households = app
        .list_households(&token, community, &[])
        .await
        .expect(200);
    assert_eq!(households.body["items"].as_array().map(Vec::len), Some(3));
    let residents = app
        .list_residents(&token, community, &[("phone", "13900001111")])
        .await
        .expect(200);
    assert_eq!(residents.body["items"][0]["birthday"], "1990-03-08");
    assert_eq!(
        residents.body["items"][0]["memberships"][0]["role"],
        "tenant"
    );
    // The imported resident can log in.
    app.login_resident("13812341234").await;
}

#[tokio::test]
async fn reimport_updates_instead_of_duplicating() {
    let app = spawn_app().await;
    let (token, community) = community(&app).await;
    import(&app, &token, community, ROLL, "").await.expect(200);
    let again = import(&app, &token, community, ROLL, "").await.expect(200);
    assert_eq!(again.body["households_created"], 0);
    assert_eq!(again.body["residents_created"], 0);
    assert_eq!(again.body["memberships_created"], 0);
    assert_eq!(again.body["households_updated"], 0);
    let changed = ROLL
        .replace("89.5,张三", "90,张三丰")
        .replace("89.5,王芳", "90,王芳")
        .replace("家属", "租户");
    let report = import(&app, &token, community, &changed, "")
        .await
        .expect(200);
    assert_eq!(report.body["households_updated"], 1);
    assert_eq!(report.body["residents_updated"], 1);
    assert_eq!(report.body["memberships_updated"], 1);
    let households = app
        .list_households(&token, community, &[("room_number", "1201")])
        .await
        .expect(200);
    assert_eq!(households.body["items"][0]["floor_area_m2"], 90.0);
}

#[tokio::test]
async fn a_bad_row_rejects_the_whole_file_with_every_error() {
    let app = spawn_app().await;
    let (token, community) = community(&app).await;
    let bad = format!("{ROLL}5栋,1单元,102,x,75,赵六,1381234,boss,\n");
    let reply = import(&app, &token, community, &bad, "")
        .await
        .expect_problem(422, "/problems/validation");
    let errors = reply.body["errors"].as_array().expect("errors");
    let found: Vec<(u64, &str)> = errors
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().expect("row"),
                e["field"].as_str().expect("field"),
            )
        })
        .collect();
    assert_eq!(found, [(6, "floor"), (6, "phone"), (6, "role")]);
    let households = app
        .list_households(&token, community, &[])
        .await
        .expect(200);
    assert_eq!(
        households.body["items"].as_array().map(Vec::len),
        Some(0),
        "nothing half-imported"
    );

    import(&app, &token, community, "\u{feff}", "")
        .await
        .expect_problem(422, "/problems/validation");
    let latin1 = b"building,unit,room,area_m2\n\xC8\xFD,1,101,80\n".to_vec();
    let reply = app
        .request_raw(
            Method::POST,
            &format!("/v1/communities/{community}/roll-imports"),
            Some(&token),
            "text/csv",
            latin1,
        )
        .await
        .expect_problem(422, "/problems/validation");
    assert!(reply.text.contains("UTF-8"), "{}", reply.text);
}

#[tokio::test]
async fn a_dry_run_writes_nothing() {
    let app = spawn_app().await;
    let (token, community) = community(&app).await;
    let report = import(&app, &token, community, ROLL, "?dry_run=true")
        .await
        .expect(200);
    assert_eq!(report.body["dry_run"], true);
    assert_eq!(report.body["households_created"], 3);
    let households = app
        .list_households(&token, community, &[])
        .await
        .expect(200);
    assert_eq!(households.body["items"].as_array().map(Vec::len), Some(0));
}
