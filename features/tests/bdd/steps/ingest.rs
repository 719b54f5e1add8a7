use std::time::Duration;

use cucumber::gherkin::Step;
use cucumber::{given, then, when};
use microdash::testing::{eventually, spawn_app};

use super::World;

#[given("a running microdash")]
async fn running(w: &mut World) {
    let app = spawn_app().await;
    w.tokens.insert("demo".into(), app.token.clone());
    w.app = Some(app);
}

#[given(expr = "a tenant {string} with an API token")]
async fn tenant_with_token(w: &mut World, slug: String) {
    let token = w.app().tenant_with_token(&slug).await;
    w.tokens.insert(slug, token);
}

#[when(expr = "{string} pushes:")]
async fn pushes(w: &mut World, tenant: String, step: &Step) {
    let token = w.token(&tenant);
    let body = step.docstring.as_deref().expect("the request body as a doc string");
    w.last = Some(w.app().post_metrics(&token, body).await);
}

#[when(expr = "{string} pushes with the token {string}:")]
async fn pushes_with(w: &mut World, _who: String, token: String, step: &Step) {
    let body = step.docstring.as_deref().expect("the request body as a doc string");
    w.last = Some(w.app().post_metrics(&token, body).await);
}

#[when("everything accepted so far is stored")]
async fn all_stored(w: &mut World) {
    // The embedded queue is FIFO with one writer: once a sentinel sent now is queryable,
    // everything accepted before it is stored too.
    let app = w.app();
    let token = w.token("demo");
    let before = app.count(&token, "bdd.sentinel").await;
    let (status, body) = app.post_metrics(&token, r#"{"metric_name":"bdd.sentinel","value":1}"#).await;
    assert_eq!(status, 202, "{body}");
    let stored = eventually(Duration::from_secs(5), || async {
        (app.count(&token, "bdd.sentinel").await > before).then_some(())
    })
    .await;
    assert!(stored.is_some(), "the queue drained within 5 s");
}

#[then(expr = "the reply status is {int}")]
async fn status_is(w: &mut World, status: u16) {
    let (got, body) = w.last.as_ref().expect("a reply");
    assert_eq!(*got, status, "reply body: {body}");
}

#[then(expr = "the reply names field {string} of item {int}")]
async fn names_field(w: &mut World, field: String, index: u64) {
    let (_, body) = w.last.as_ref().expect("a reply");
    let errors = body["errors"].as_array().expect("an errors list");
    assert!(
        errors.iter().any(|e| e["field"] == field.as_str() && e["index"] == index),
        "no error for field {field} of item {index}: {body}"
    );
}

#[then(expr = "{string} can read {int} point(s) of {string} within {int} seconds")]
async fn can_read_within(w: &mut World, tenant: String, n: u64, metric: String, secs: u64) {
    let (app, token) = (w.app(), w.token(&tenant));
    let got = eventually(Duration::from_secs(secs), || async {
        let c = app.count(&token, &metric).await;
        (c == n).then_some(c)
    })
    .await;
    assert_eq!(got, Some(n), "{tenant} should read {n} point(s) of {metric}");
}

#[then(expr = "{string} has {int} point(s) of {string}")]
async fn has_points(w: &mut World, tenant: String, n: u64, metric: String) {
    assert_eq!(w.app().count(&w.token(&tenant), &metric).await, n);
}
