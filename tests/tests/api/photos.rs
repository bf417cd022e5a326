//! Ticket photos: multipart upload checked by the bytes, 9 a ticket, who may add them at
//! which stage, fetching them back, and where the bytes land.

use std::path::PathBuf;

use courtyard_tests::{FilePart, TestApp, spawn_app, world::World};
use serde_json::{Value, json};
use uuid::Uuid;

/// A JPEG's first bytes (SOI, APP0 "JFIF"), then `fill` so photos differ.
fn jpeg(fill: u8, len: usize) -> Vec<u8> {
    let mut bytes = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00,
    ];
    bytes.resize(len.max(bytes.len()), fill);
    bytes
}

fn png() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.resize(200, 7);
    bytes
}

fn webp() -> Vec<u8> {
    let mut bytes = b"RIFF\xc0\0\0\0WEBPVP8 ".to_vec();
    bytes.resize(200, 8);
    bytes
}

/// An iPhone's HEIC: an `ftyp` box with major brand `heic`.
fn heic() -> Vec<u8> {
    let mut bytes = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    bytes.extend_from_slice(b"\0\0\0\x08meta");
    bytes.resize(200, 9);
    bytes
}

/// Reports a repair as the resident of A's household.
async fn report(app: &TestApp, world: &World) -> Uuid {
    app.create_repair(
        &world.resident.access,
        &json!({
            "household_id": world.a.household,
            "category": "water",
            "urgency": "ordinary",
            "description": "leak",
        }),
        None,
    )
    .await
    .expect(201)
    .id()
}

fn photos_path(ticket: Uuid) -> String {
    format!("/v1/tickets/{ticket}/photos")
}

/// The files stored for a ticket in the app's photo directory.
fn stored_files(app: &TestApp, ticket: Uuid) -> Vec<PathBuf> {
    let dir = PathBuf::from(&app.settings.storage.photo_dir)
        .join("tickets")
        .join(ticket.to_string());
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.expect("entry").path()).collect())
        .unwrap_or_default();
    files.sort();
    files
}

fn field_errors(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn residents_add_photos_and_get_them_back_byte_for_byte() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let ticket = report(&app, &world).await;
    let first = jpeg(1, 4_000);
    let second = jpeg(2, 5_000);

    let added = app
        .upload_ticket_photos(ticket, &world.resident.access, &[&first, &second])
        .await
        .expect(201);
    let refs = added.body.as_array().expect("a list of photos");
    assert_eq!(refs.len(), 2, "{}", added.text);
    for (photo, bytes) in refs.iter().zip([&first, &second]) {
        let id: Uuid = photo["id"].as_str().expect("id").parse().expect("uuid");
        assert_eq!(photo["stage"], "report");
        assert_eq!(photo["content_type"], "image/jpeg");
        assert_eq!(photo["size_bytes"], json!(bytes.len()));
        assert_eq!(
            photo["url"],
            json!(format!("/v1/tickets/{ticket}/photos/{id}"))
        );
        // The bytes land in the configured directory, under a name made of the ids.
        let on_disk = PathBuf::from(&app.settings.storage.photo_dir)
            .join("tickets")
            .join(ticket.to_string())
            .join(format!("{id}.jpg"));
        assert_eq!(&std::fs::read(&on_disk).expect("stored file"), bytes);
    }
    assert_eq!(
        stored_files(&app, ticket).len(),
        2,
        "no temporary files remain"
    );

    let url = refs[1]["url"].as_str().expect("url");
    let got = app.download(url, &world.resident.access).await;
    assert_eq!(got.status.as_u16(), 200);
    assert_eq!(got.header("content-type"), "image/jpeg");
    assert_eq!(got.header("x-content-type-options"), "nosniff");
    assert_eq!(got.bytes, second);

    // The office sees them too, on the ticket and by URL; the history has one entry.
    let desk = world.token("front_desk");
    assert_eq!(app.download(url, desk).await.bytes, second);
    let detail = app.get_ticket(desk, ticket).await.expect(200);
    assert_eq!(detail.body["photos"].as_array().map(Vec::len), Some(2));
    let added_events: Vec<&Value> = detail.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == "photo_added")
        .collect();
    assert_eq!(added_events.len(), 1, "{}", detail.text);
    assert_eq!(added_events[0]["actor_kind"], "resident");
}

#[tokio::test]
async fn only_jpeg_png_webp_and_heic_images_are_taken_told_by_their_bytes() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let ticket = report(&app, &world).await;
    let token = world.resident.access.as_str();

    // Declared as a JPEG, but text.
    let refused = app
        .upload_ticket_photos(ticket, token, &[b"just some text, not a photo"])
        .await
        .expect_problem(422, "/problems/validation");
    let errors = field_errors(&refused.body);
    assert_eq!(errors.len(), 1, "{}", refused.text);
    assert_eq!(errors[0].0, "photos");
    assert!(
        errors[0].1.contains("not a JPEG/PNG/WebP/HEIC image"),
        "{}",
        refused.text
    );

    // One bad file refuses the request: nothing is added, nothing stays on disk.
    let mixed = app
        .upload_ticket_photos(ticket, token, &[&jpeg(1, 100), b"GIF89a\x01\0\x01\0"])
        .await
        .expect_problem(422, "/problems/validation");
    assert!(field_errors(&mixed.body)[0].1.starts_with("file 2 of 2"));

    // Over 10 MiB.
    let big = jpeg(3, 10 * 1024 * 1024 + 1);
    let too_big = app
        .upload_ticket_photos(ticket, token, &[&big])
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(field_errors(&too_big.body)[0].0, "photos");
    assert!(too_big.text.contains("10 MiB"), "{}", too_big.text);
    assert!(stored_files(&app, ticket).is_empty());

    // Over the request limit altogether.
    let huge = jpeg(4, 17 * 1024 * 1024);
    app.upload_ticket_photos(ticket, token, &[&huge])
        .await
        .expect_problem(413, "/problems/payload-too-large");

    // Not multipart at all, and multipart that does not parse: problems, not 500s.
    app.post(&photos_path(ticket), Some(token), json!({ "photos": [] }))
        .await
        .expect_problem(415, "/problems/unsupported-media-type");
    app.request_raw(
        reqwest::Method::POST,
        &photos_path(ticket),
        Some(token),
        "multipart/form-data; boundary=nope",
        b"--elsewhere\r\ngarbage".to_vec(),
    )
    .await
    .expect_problem(400, "/problems/bad-request");
    // A part the document does not name (and so no `photos`): not a body this operation reads.
    let refused = app
        .post_multipart(
            &photos_path(ticket),
            Some(token),
            &[FilePart::new("other", "a.jpg", "image/jpeg", &jpeg(1, 50))],
        )
        .await
        .expect_problem(400, "/problems/bad-request");
    assert!(refused.text.contains("`other`"), "{}", refused.text);

    // The type is the bytes', whatever was declared.
    let added = app
        .post_multipart(
            &photos_path(ticket),
            Some(token),
            &[
                FilePart::new("photos", "a.bin", "application/octet-stream", &png()),
                FilePart::new("photos", "b.jpg", "image/jpeg", &webp()),
                FilePart::new("photos", "IMG_0001.HEIC", "image/heif", &heic()),
            ],
        )
        .await
        .expect(201);
    let types: Vec<&str> = added
        .body
        .as_array()
        .expect("list")
        .iter()
        .map(|p| p["content_type"].as_str().expect("type"))
        .collect();
    assert_eq!(types, ["image/png", "image/webp", "image/heic"]);
    let names: Vec<String> = stored_files(&app, ticket)
        .iter()
        .map(|p| {
            p.extension()
                .expect("extension")
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let mut expected = vec!["heic", "png", "webp"];
    let mut names: Vec<&str> = names.iter().map(String::as_str).collect();
    names.sort();
    expected.sort();
    assert_eq!(names, expected, "stored under generated names only");
    let heic_url = added.body[2]["url"].as_str().expect("url");
    let got = app.download(heic_url, token).await;
    assert_eq!(got.header("content-type"), "image/heic");
    assert_eq!(got.bytes, heic());
}

#[tokio::test]
async fn a_ticket_has_at_most_nine_photos() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let ticket = report(&app, &world).await;
    let token = world.resident.access.as_str();
    let photos: Vec<Vec<u8>> = (0..9).map(|i| jpeg(i, 64)).collect();
    let first: Vec<&[u8]> = photos[..5].iter().map(Vec::as_slice).collect();
    let rest: Vec<&[u8]> = photos[5..].iter().map(Vec::as_slice).collect();
    app.upload_ticket_photos(ticket, token, &first)
        .await
        .expect(201);
    app.upload_ticket_photos(ticket, token, &rest)
        .await
        .expect(201);

    let tenth = app
        .upload_ticket_photos(ticket, token, &[&jpeg(10, 64)])
        .await
        .expect_problem(422, "/problems/validation");
    let errors = field_errors(&tenth.body);
    assert_eq!(errors[0].0, "photos", "{}", tenth.text);
    assert!(errors[0].1.contains("at most 9"), "{}", tenth.text);
    // The office cannot go over it either.
    app.upload_ticket_photos(ticket, world.token("front_desk"), &[&jpeg(11, 64)])
        .await
        .expect_problem(422, "/problems/validation");
    assert_eq!(stored_files(&app, ticket).len(), 9);
}

#[tokio::test]
async fn photos_are_only_for_the_tickets_parties() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let ticket = report(&app, &world).await;
    let other_ticket = report(&app, &world).await;
    let added = app
        .upload_ticket_photos(ticket, &world.resident.access, &[&jpeg(1, 64)])
        .await
        .expect(201);
    let photo = added.body[0]["id"].as_str().expect("id").to_owned();
    let url = format!("/v1/tickets/{ticket}/photos/{photo}");

    // Residents of another community of the company, and of another company: not found.
    for other in [
        &world.b.resident_tokens.access,
        &world.c.resident_tokens.access,
    ] {
        app.upload_ticket_photos(ticket, other, &[&jpeg(2, 64)])
            .await
            .expect_problem(404, "/problems/not-found");
        assert_eq!(app.download(&url, other).await.status.as_u16(), 404);
    }
    // A photo id under another ticket's path.
    let misplaced = app
        .download(
            &format!("/v1/tickets/{other_ticket}/photos/{photo}"),
            &world.resident.access,
        )
        .await;
    assert_eq!(misplaced.status.as_u16(), 404);
    let unknown = app
        .download(
            &format!("/v1/tickets/{ticket}/photos/{}", Uuid::new_v4()),
            &world.resident.access,
        )
        .await;
    assert_eq!(unknown.status.as_u16(), 404);
    assert_eq!(unknown.header("content-type"), "application/problem+json");
    // No token.
    app.post_multipart(
        &photos_path(ticket),
        None,
        &[FilePart::new("photos", "a.jpg", "image/jpeg", &jpeg(1, 64))],
    )
    .await
    .expect_problem(401, "/problems/unauthorized");

    // The front desk adds report photos; the household's butler and a cleaner may not.
    let desk = app
        .upload_ticket_photos(ticket, world.token("front_desk"), &[&jpeg(3, 64)])
        .await
        .expect(201);
    assert_eq!(desk.body[0]["stage"], "report");
    app.put_butler_assignments(
        &world.admin.access,
        world.staff["butler"].0,
        &json!({ "building_ids": [world.a.building], "household_ids": [] }),
    )
    .await
    .expect(200);
    let butlers_ticket = report(&app, &world).await;
    app.upload_ticket_photos(butlers_ticket, world.token("butler"), &[&jpeg(4, 64)])
        .await
        .expect_problem(403, "/problems/forbidden");
    app.upload_ticket_photos(ticket, world.token("cleaner"), &[&jpeg(5, 64)])
        .await
        .expect_problem(403, "/problems/forbidden");

    // The assignee: report photos until accepted, completion photos at work.
    let engineer = world.token("engineer");
    app.dispatch_ticket(
        world.token("front_desk"),
        ticket,
        &json!({ "assignee_id": world.staff["engineer"].0 }),
    )
    .await
    .expect(200);
    let before = app
        .upload_ticket_photos(ticket, engineer, &[&jpeg(6, 64)])
        .await
        .expect(201);
    assert_eq!(before.body[0]["stage"], "report");
    app.accept_ticket(engineer, ticket).await.expect(200);
    app.arrive_ticket(engineer, ticket).await.expect(200);
    let at_work = app
        .upload_ticket_photos(ticket, engineer, &[&jpeg(7, 64)])
        .await
        .expect(201);
    assert_eq!(at_work.body[0]["stage"], "completion");
    // Work has started: the resident's part is done.
    let late = app
        .upload_ticket_photos(ticket, &world.resident.access, &[&jpeg(8, 64)])
        .await
        .expect_problem(409, "/problems/wrong-state");
    assert!(late.str("detail").contains("on_site"), "{}", late.text);
}

#[tokio::test]
async fn cancelled_tickets_take_no_photos() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let ticket = report(&app, &world).await;
    app.cancel_ticket(&world.resident.access, ticket, &json!({}))
        .await
        .expect(200);
    for token in [world.resident.access.as_str(), world.token("supervisor")] {
        let refused = app
            .upload_ticket_photos(ticket, token, &[&jpeg(1, 64)])
            .await
            .expect_problem(409, "/problems/wrong-state");
        assert!(
            refused.str("detail").contains("cancelled"),
            "{}",
            refused.text
        );
    }
    assert!(stored_files(&app, ticket).is_empty());
}

#[tokio::test]
async fn uploads_at_once_cannot_pass_nine_together_nor_leave_files_behind() {
    let app = spawn_app().await;
    let world = World::build(&app).await;
    let ticket = report(&app, &world).await;
    let token = world.resident.access.as_str();
    let five: Vec<Vec<u8>> = (0..5).map(|i| jpeg(i, 64)).collect();
    let five: Vec<&[u8]> = five.iter().map(Vec::as_slice).collect();
    app.upload_ticket_photos(ticket, token, &five)
        .await
        .expect(201);

    // Each fits alone (5 + 3), not both (5 + 3 + 3): one is refused, whether by the first
    // count or by the count under the ticket's lock after its files were stored.
    let (one, two, three) = (jpeg(21, 2_000), jpeg(22, 2_000), jpeg(23, 2_000));
    let (batch, reversed): ([&[u8]; 3], [&[u8]; 3]) = ([&one, &two, &three], [&three, &two, &one]);
    let (first, second) = tokio::join!(
        app.upload_ticket_photos(ticket, token, &batch),
        app.upload_ticket_photos(ticket, token, &reversed),
    );
    let mut statuses = [first.status.as_u16(), second.status.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 422], "{} / {}", first.text, second.text);
    let detail = app.get_ticket(token, ticket).await.expect(200);
    assert_eq!(detail.body["photos"].as_array().map(Vec::len), Some(8));
    assert_eq!(
        stored_files(&app, ticket).len(),
        8,
        "refused files are deleted"
    );
}
