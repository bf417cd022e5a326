//! Access tokens (short-lived HS256 JWTs) and refresh tokens (opaque, stored hashed, rotated
//! on every use; presenting a used one revokes its whole family).

use chrono::{DateTime, Duration, Utc};
use courtyard_domain::{
    auth::{hash_refresh_token, new_refresh_token},
    entities::refresh_token,
    new_id,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use poem_openapi::Object;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter,
    sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ApiError;

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    /// A resident (app or mini-program).
    Resident,
    /// A staff member (console or staff app).
    Staff,
}

impl SubjectKind {
    fn as_str(self) -> &'static str {
        match self {
            SubjectKind::Resident => "resident",
            SubjectKind::Staff => "staff",
        }
    }
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Subject id.
    pub sub: Uuid,
    /// Subject kind.
    pub kind: SubjectKind,
    /// Company (tenant) id.
    pub cid: Uuid,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

/// Signing keys for access tokens.
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

/// A freshly issued token pair.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none)]
pub struct TokenPair {
    /// Bearer token for the `Authorization` header.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Single-use token for `POST /v1/auth/refresh`; rotated on every use.
    pub refresh_token: String,
}

impl TokenKeys {
    /// Keys from an HMAC secret and lifetimes.
    pub fn new(secret: &[u8], access_ttl_secs: i64, refresh_ttl_days: i64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            access_ttl: Duration::seconds(access_ttl_secs),
            refresh_ttl: Duration::days(refresh_ttl_days),
        }
    }

    /// Checks a bearer token's signature and expiry against `now`.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, ApiError> {
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against the injected clock below, not the wall clock.
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let claims = decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| ApiError::Unauthorized("the access token is invalid".into()))?
            .claims;
        if claims.exp <= now.timestamp() {
            return Err(ApiError::Unauthorized(
                "the access token has expired; refresh it".into(),
            ));
        }
        Ok(claims)
    }

    /// Issues a pair for a new login (a new refresh family).
    pub async fn issue<C: ConnectionTrait>(
        &self,
        db: &C,
        kind: SubjectKind,
        subject: Uuid,
        company: Uuid,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, ApiError> {
        self.issue_in_family(db, kind, subject, company, new_id(), now)
            .await
    }

    async fn issue_in_family<C: ConnectionTrait>(
        &self,
        db: &C,
        kind: SubjectKind,
        subject: Uuid,
        company: Uuid,
        family: Uuid,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, ApiError> {
        let claims = Claims {
            sub: subject,
            kind,
            cid: company,
            iat: now.timestamp(),
            exp: (now + self.access_ttl).timestamp(),
        };
        let access_token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| anyhow::anyhow!("signing an access token: {e}"))?;
        let refresh_token = new_refresh_token();
        refresh_token::ActiveModel {
            id: Set(new_id()),
            family_id: Set(family),
            subject_kind: Set(kind.as_str().into()),
            subject_id: Set(subject),
            token_hash: Set(hash_refresh_token(&refresh_token)),
            created_at: Set(now),
            expires_at: Set(now + self.refresh_ttl),
            used_at: Set(None),
            revoked_at: Set(None),
        }
        .insert(db)
        .await?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer".into(),
            expires_in: self.access_ttl.num_seconds(),
            refresh_token,
        })
    }

    /// Rotates a refresh token: marks it used and issues a new pair in its family. A token
    /// that was already used is a sign of theft: the whole family is revoked.
    ///
    /// `company_of` resolves the subject's company (and refuses deactivated subjects).
    pub async fn rotate<C: ConnectionTrait>(
        &self,
        db: &C,
        presented: &str,
        now: DateTime<Utc>,
        origin: &courtyard_store::audit::Origin,
        company_of: impl AsyncFnOnce(SubjectKind, Uuid) -> Result<Uuid, ApiError>,
    ) -> Result<TokenPair, ApiError> {
        let invalid = || ApiError::Unauthorized("the refresh token is invalid or expired".into());
        let Some(row) = refresh_token::Entity::find()
            .filter(refresh_token::Column::TokenHash.eq(hash_refresh_token(presented)))
            .one(db)
            .await?
        else {
            return Err(invalid());
        };
        if row.revoked_at.is_some() || row.expires_at <= now {
            return Err(invalid());
        }
        // Claim the token atomically so two concurrent refreshes cannot both succeed.
        let claimed = refresh_token::Entity::update_many()
            .col_expr(refresh_token::Column::UsedAt, Expr::value(now))
            .filter(refresh_token::Column::Id.eq(row.id))
            .filter(refresh_token::Column::UsedAt.is_null())
            .exec(db)
            .await?
            .rows_affected;
        let kind = match row.subject_kind.as_str() {
            "resident" => SubjectKind::Resident,
            _ => SubjectKind::Staff,
        };
        if claimed == 0 {
            revoke_family(db, row.family_id, now).await?;
            tracing::warn!(family = %row.family_id, "refresh token reused; family revoked");
            use courtyard_store::audit::{ActorKind, Entry};
            let actor = match kind {
                SubjectKind::Resident => ActorKind::Resident,
                SubjectKind::Staff => ActorKind::Staff,
            };
            let mut entry = Entry::new(
                actor,
                Some(row.subject_id),
                company_of(kind, row.subject_id).await.ok(),
                "refresh_token_reused",
                kind.as_str(),
                origin.clone(),
            )
            .object(row.subject_id)
            .details(serde_json::json!({ "family_id": row.family_id, "family_revoked": true }));
            if kind == SubjectKind::Resident {
                entry = entry.resident(row.subject_id);
            }
            courtyard_store::audit::record(db, &entry).await?;
            return Err(ApiError::Unauthorized(
                "this refresh token was already used; every session from this login is signed out"
                    .into(),
            ));
        }
        let company = company_of(kind, row.subject_id).await?;
        self.issue_in_family(db, kind, row.subject_id, company, row.family_id, now)
            .await
    }
}

/// Revokes every token of the family `presented` belongs to (logout). Unknown tokens are
/// ignored: logout is idempotent.
pub async fn revoke<C: ConnectionTrait>(
    db: &C,
    presented: &str,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    if let Some(row) = refresh_token::Entity::find()
        .filter(refresh_token::Column::TokenHash.eq(hash_refresh_token(presented)))
        .one(db)
        .await?
    {
        revoke_family(db, row.family_id, now).await?;
    }
    Ok(())
}

async fn revoke_family<C: ConnectionTrait>(
    db: &C,
    family: Uuid,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RevokedAt, Expr::value(now))
        .filter(refresh_token::Column::FamilyId.eq(family))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
