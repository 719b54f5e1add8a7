use crate::helpers::spawn_app;

#[tokio::test]
async fn a_posted_sample_is_queryable_through_the_real_stack() {
    // Arrange
    let app = spawn_app().await;

    // Act
    let (status, body) =
        app.post_metrics(&app.token, r#"{"metric_name":"cpu","value":42.5,"agent_id":"web-1"}"#).await;
    assert_eq!(status, 202, "{body}");

    // Assert: stored and visible within a bounded time.
    let q = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        let (_, q) = app.query(&app.token, "name=cpu").await;
        (q["total"] == 1).then_some(q)
    })
    .await
    .expect("sample became queryable");
    assert_eq!(q["series"][0]["agent_id"], "web-1");
    assert_eq!(q["series"][0]["points"][0]["value"], 42.5);
    app.stop().await;
}

#[tokio::test]
async fn a_token_of_one_tenant_cannot_read_another_tenants_samples() {
    let app = spawn_app().await;
    let other = app.tenant_with_token("other").await;
    let (status, _) = app.post_metrics(&app.token, r#"{"metric_name":"private","value":1}"#).await;
    assert_eq!(status, 202);

    let seen = crate::helpers::eventually(std::time::Duration::from_secs(5), || async {
        let (_, q) = app.query(&app.token, "name=private").await;
        (q["total"] == 1).then_some(())
    })
    .await;
    assert!(seen.is_some(), "the owner sees its sample");
    let (status, q) = app.query(&other, "name=private").await;
    assert_eq!((status, q["total"].as_u64()), (200, Some(0)));
    app.stop().await;
}
