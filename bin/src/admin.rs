//! `microdash tenant ...`, `microdash token ...` and `microdash migrate`: administration on the
//! same database as the server (a running server sees the changes within a second).

use std::sync::Arc;

use microdash_adapter_memory::SystemClock;
use microdash_domain::duration::format_duration;
use microdash_domain::{ApiToken, Retention, Tenant, Timestamp, TokenId};
use microdash_usecases::AdminService;
use serde_json::{Value, json};

use crate::cli::{AdminArgs, TenantCommand, TokenCommand};
use crate::config::StoreArgs;
use crate::storage::Storage;

/// An admin service over the configured database, for tools and tests that run beside a server.
///
/// # Errors
/// When the database cannot be opened.
pub async fn open_admin(store: &StoreArgs) -> anyhow::Result<AdminService> {
    Ok(open(store).await?.0)
}

async fn open(store: &StoreArgs) -> anyhow::Result<(AdminService, Storage)> {
    let storage = Storage::open(store).await?;
    Ok((AdminService::new(storage.tenants.clone(), storage.tokens.clone(), Arc::new(SystemClock)), storage))
}

/// Runs a tenant command.
///
/// # Errors
/// Invalid input or an unreachable database, with a message saying what to do.
pub async fn tenant(cmd: TenantCommand) -> anyhow::Result<()> {
    match cmd {
        TenantCommand::Create { slug, name, common } => {
            let (admin, store) = open(&common.store).await?;
            let t = admin.create_tenant(&slug, name).await;
            store.close().await;
            let t = t?;
            emit(&common, tenant_json(&t), || format!("Created tenant '{}' (id {}).", t.slug, t.id));
        }
        TenantCommand::List { common } => {
            let (admin, store) = open(&common.store).await?;
            let all = admin.list_tenants().await;
            store.close().await;
            let all = all?;
            let text = || {
                let mut out = format!("{:<24} {:<24} {:>16}  {}", "SLUG", "NAME", "SAMPLES/MIN", "CREATED");
                for t in &all {
                    out.push_str(&format!(
                        "\n{:<24} {:<24} {:>16}  {}",
                        t.slug, t.name, t.samples_per_minute, t.created_at
                    ));
                }
                out
            };
            emit(&common, Value::Array(all.iter().map(tenant_json).collect()), text);
        }
        TenantCommand::SetQuota { slug, samples_per_minute, common } => {
            let (admin, store) = open(&common.store).await?;
            let t = admin.set_quota(&slug, samples_per_minute).await;
            store.close().await;
            let t = t?;
            emit(&common, tenant_json(&t), || {
                format!(
                    "Tenant '{}' may now send {} samples per minute per token.",
                    t.slug, t.samples_per_minute
                )
            });
        }
        TenantCommand::SetRetention { slug, raw, one_minute, five_minutes, common } => {
            let (admin, store) = open(&common.store).await?;
            let t = admin.set_retention(&slug, Retention { raw, one_minute, five_minutes }).await;
            store.close().await;
            let t = t?;
            emit(&common, tenant_json(&t), || {
                format!(
                    "Tenant '{}' now keeps raw samples {}, 1-minute rollups {} and 5-minute rollups {}.",
                    t.slug,
                    format_duration(t.retention.raw),
                    format_duration(t.retention.one_minute),
                    format_duration(t.retention.five_minutes)
                )
            });
        }
    }
    Ok(())
}

/// Runs a token command.
///
/// # Errors
/// Invalid input or an unreachable database, with a message saying what to do.
pub async fn token(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Create { tenant, name, common } => {
            let (admin, store) = open(&common.store).await?;
            let created = admin.create_token(&tenant, &name).await;
            store.close().await;
            let (tok, secret) = created?;
            let mut j = token_json(&tok);
            j["token"] = json!(secret.expose());
            emit(&common, j, || {
                format!(
                    "Created token {} for tenant '{tenant}'. It is shown only now:\n\n    {}\n",
                    tok.id,
                    secret.expose()
                )
            });
        }
        TokenCommand::List { tenant, common } => {
            let (admin, store) = open(&common.store).await?;
            let list = admin.list_tokens(&tenant).await;
            store.close().await;
            let list = list?;
            let text = || {
                let mut out = format!(
                    "{:>6}  {:<14} {:<20} {:<26} {:<26} {}",
                    "ID", "PREFIX", "NAME", "CREATED", "LAST USED", "REVOKED"
                );
                for t in &list {
                    out.push_str(&format!(
                        "\n{:>6}  {:<14} {:<20} {:<26} {:<26} {}",
                        t.id,
                        t.display_prefix,
                        t.name,
                        t.created_at,
                        or_dash(t.last_used_at),
                        or_dash(t.revoked_at)
                    ));
                }
                out
            };
            emit(&common, Value::Array(list.iter().map(token_json).collect()), text);
        }
        TokenCommand::Revoke { id, common } => {
            let (admin, store) = open(&common.store).await?;
            let tok = admin.revoke_token(TokenId::new(id)).await;
            store.close().await;
            let tok = tok?;
            emit(&common, token_json(&tok), || {
                format!(
                    "Revoked token {} ({}); running servers refuse it within a second.",
                    tok.id, tok.display_prefix
                )
            });
        }
    }
    Ok(())
}

/// Creates or upgrades the schema.
///
/// # Errors
/// When the database cannot be opened or migrated.
pub async fn migrate(store: StoreArgs) -> anyhow::Result<()> {
    let (_, s) = open(&store).await?;
    s.close().await;
    tracing::info!(url = %store.url(), "Database schema is up to date.");
    Ok(())
}

fn or_dash(t: Option<Timestamp>) -> String {
    t.map_or_else(|| "-".into(), |t| t.to_string())
}

fn tenant_json(t: &Tenant) -> Value {
    json!({
        "id": t.id.get(),
        "slug": t.slug.as_str(),
        "name": t.name,
        "samples_per_minute": t.samples_per_minute,
        "retention": {
            "raw_seconds": t.retention.raw.as_secs(),
            "1m_seconds": t.retention.one_minute.as_secs(),
            "5m_seconds": t.retention.five_minutes.as_secs(),
        },
        "created_at": t.created_at.to_string(),
    })
}

fn token_json(t: &ApiToken) -> Value {
    json!({
        "id": t.id.get(),
        "tenant_id": t.tenant_id.get(),
        "name": t.name,
        "prefix": t.display_prefix,
        "created_at": t.created_at.to_string(),
        "last_used_at": t.last_used_at.map(|t| t.to_string()),
        "revoked_at": t.revoked_at.map(|t| t.to_string()),
    })
}

// Printing the result is what these commands are for.
#[allow(clippy::print_stdout)]
fn emit(common: &AdminArgs, json: Value, text: impl FnOnce() -> String) {
    if common.json {
        println!("{json}");
    } else {
        println!("{}", text());
    }
}
