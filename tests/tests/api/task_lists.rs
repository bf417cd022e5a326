//! The staff's working lists are paged like every other list: a staff member's tasks (the
//! soonest SLA deadline first) and the front desk's callback list (the longest waiting
//! first), each walked page by page to the same order as one large page.

use chrono::Duration;
use courtyard_tests::{TestApp, world::World};
use serde_json::{Value, json};

/// Every page of a list, `limit` at a time: the ids in order, and how many pages it took.
async fn walk<F, Fut>(limit: &str, mut page: F) -> (Vec<String>, usize)
where
    F: FnMut(Vec<(&'static str, String)>) -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let mut query = vec![("limit", limit.to_owned())];
        if let Some(c) = cursor.take() {
            query.push(("cursor", c));
        }
        let body = page(query).await;
        pages += 1;
        ids.extend(
            body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|t| t["id"].as_str().expect("id").to_owned()),
        );
        match body.get("next_cursor") {
            Some(next) => cursor = Some(next.as_str().expect("cursor").to_owned()),
            None => return (ids, pages),
        }
        assert!(pages < 50, "the walk never ended");
    }
}

fn query<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The app; access tokens outlive the days a test moves the clock over.
async fn app() -> TestApp {
    courtyard_tests::spawn_app_with(|s| s.auth.access_token_ttl_secs = 30 * 24 * 3600).await
}

async fn repair(app: &TestApp, world: &World, urgency: &str) -> String {
    let id = app
        .create_repair(
            &world.resident.access,
            &json!({ "household_id": world.a.household, "category": "water", "urgency": urgency, "description": format!("{urgency}: 水龙头漏水") }),
            None,
        )
        .await
        .expect(201)
        .id();
    app.dispatch_ticket(
        world.token("front_desk"),
        id,
        &json!({ "assignee_id": world.staff["engineer"].0 }),
    )
    .await
    .expect(200);
    id.to_string()
}

#[tokio::test]
async fn a_task_list_pages_in_deadline_order() {
    let app = app().await;
    let world = World::build(&app).await;
    let engineer = world.token("engineer");
    for urgency in ["ordinary", "emergency", "simple", "ordinary", "emergency"] {
        repair(&app, &world, urgency).await;
    }
    let all = app
        .list_my_tasks(engineer, &[("limit", "200")])
        .await
        .expect(200);
    assert!(all.body.get("next_cursor").is_none(), "{}", all.text);
    let items = all.body["items"].as_array().expect("items").clone();
    // The world's own repair for them, and these five.
    assert_eq!(items.len(), 6, "{}", all.text);
    // The soonest deadline first.
    let due: Vec<&str> = items
        .iter()
        .map(|t| t["next_due_at"].as_str().expect("a running clock"))
        .collect();
    let mut sorted = due.clone();
    sorted.sort();
    assert_eq!(due, sorted);
    assert_eq!(items[0]["urgency"], "emergency");
    let one_page: Vec<String> = items
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();

    let app = &app;
    let (walked, pages) = walk("2", |q| async move {
        app.list_my_tasks(engineer, &query(&q))
            .await
            .expect(200)
            .body
    })
    .await;
    assert_eq!(walked, one_page);
    assert_eq!(pages, 3);
    // A cursor that names no task of theirs.
    let foreign = "AAAAAAAAAAAAAAAAAAAAAA";
    app.list_my_tasks(engineer, &[("cursor", foreign)])
        .await
        .expect_problem(422, "/problems/validation");
}

#[tokio::test]
async fn the_callback_list_pages_the_longest_waiting_first() {
    let app = app().await;
    let world = World::build(&app).await;
    let engineer = world.token("engineer");
    let mut completed = Vec::new();
    for _ in 0..3 {
        let id = repair(&app, &world, "ordinary").await;
        for act in ["accept", "arrive", "complete"] {
            let path = format!("/v1/tickets/{id}/{act}");
            app.post(&path, Some(engineer), json!({})).await.expect(200);
        }
        completed.push(id);
        app.clock.advance(Duration::minutes(10));
    }
    // Unrated for 48 hours: all three wait for the front desk's call.
    app.clock.advance(Duration::hours(49));
    let desk = world.token("front_desk");
    let community = world.a.community;
    app.wait_for("the callback list", 20, || async {
        let listed = app.list_callbacks(desk, community, &[]).await.expect(200);
        listed.body["items"].as_array().expect("items").len() == 3
    })
    .await;
    let app = &app;
    let (walked, pages) = walk("1", |q| async move {
        app.list_callbacks(desk, community, &query(&q))
            .await
            .expect(200)
            .body
    })
    .await;
    assert_eq!(walked, completed, "completed longest ago first");
    assert_eq!(pages, 3);
}
