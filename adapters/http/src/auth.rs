//! How a client presents its API token. The security schemes only extract the secret; the
//! handler resolves it through [`AuthService`], so that an unreachable token store is a 503
//! and not a misleading 401.

use microdash_usecases::{AuthService, Principal};
use poem_openapi::SecurityScheme;
use poem_openapi::auth::{ApiKey, Bearer};

use crate::error::ApiError;

/// `Authorization: Bearer <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", rename = "BearerToken")]
pub(crate) struct BearerToken(Bearer);

/// `X-API-Token: <token>`.
#[derive(SecurityScheme)]
#[oai(ty = "api_key", key_name = "X-API-Token", key_in = "header", rename = "ApiTokenHeader")]
pub(crate) struct ApiTokenHeader(ApiKey);

/// Either way of presenting a token.
#[derive(SecurityScheme)]
pub(crate) enum TokenAuth {
    /// Bearer token.
    Bearer(BearerToken),
    /// `X-API-Token` header.
    Header(ApiTokenHeader),
}

impl TokenAuth {
    fn secret(&self) -> &str {
        match self {
            TokenAuth::Bearer(b) => &b.0.token,
            TokenAuth::Header(h) => &h.0.key,
        }
    }

    /// Resolves the token to the caller.
    pub(crate) async fn principal(&self, auth: &AuthService) -> Result<Principal, ApiError> {
        Ok(auth.authenticate(self.secret().trim()).await?)
    }
}
