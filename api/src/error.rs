//! Errors, layer by layer: `domain` returns `InvalidValue` and plain enums; handlers return
//! [`ApiError`] (through the [`Errors`] wrapper that documents which statuses an operation
//! can answer); jobs use `anyhow` with context. Every error a caller can cause becomes a 4xx
//! RFC 7807 problem+json with a stable `type`; only [`ApiError::Unexpected`] is a 500, and its
//! chain is logged, never shown.

use courtyard_domain::people::InvalidValue;
use poem::{IntoResponse, Response, error::ResponseError, http::StatusCode};
use poem_openapi::{
    ApiResponse, Object,
    registry::{MetaMediaType, MetaResponse, MetaResponses, Registry},
    types::{Example, ToJSON, Type},
};

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 7807 problem document.
#[derive(Debug, Clone, Object)]
#[oai(skip_serializing_if_is_none, example)]
pub struct Problem {
    /// Stable identifier of the kind of problem, e.g. `/problems/validation`.
    #[oai(rename = "type")]
    pub kind: String,
    /// Short summary of the kind of problem.
    pub title: String,
    /// HTTP status code.
    pub status: u16,
    /// What went wrong this time, for a person to read.
    pub detail: String,
    /// Field-level errors when input was invalid; empty (never absent) otherwise.
    pub errors: Vec<FieldError>,
}

impl Example for Problem {
    fn example() -> Self {
        Problem {
            kind: "/problems/validation".into(),
            title: "Invalid input".into(),
            status: 422,
            detail: "Some fields are invalid.".into(),
            errors: vec![FieldError {
                field: "phone".into(),
                message: "a phone number is an 11-digit mainland mobile number such as 13812341234"
                    .into(),
                row: None,
            }],
        }
    }
}

/// One invalid field.
#[derive(Debug, Clone, Object, PartialEq, Eq)]
#[oai(skip_serializing_if_is_none)]
pub struct FieldError {
    /// The field, as named in the request (`phone`, `rows[3].area_m2`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
    /// For file uploads: the row of the file (the header being row 1).
    #[oai(skip_serializing_if_is_none)]
    pub row: Option<u32>,
}

/// Everything a handler can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or invalid credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// Authenticated but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// Not found, or not visible to the caller (404): the two are not told apart.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The request conflicts with the current state (409); `kind` is the problem slug.
    #[error("{detail}")]
    Conflict {
        /// Problem slug, e.g. `duplicate-phone`.
        kind: &'static str,
        /// What conflicts.
        detail: String,
    },
    /// Well-formed input that breaks a rule (422).
    #[error("{detail}")]
    Validation {
        /// Summary.
        detail: String,
        /// The fields at fault.
        errors: Vec<FieldError>,
    },
    /// Too many requests (429); retry after the given seconds.
    #[error("{detail}")]
    TooManyRequests {
        /// What limit was hit.
        detail: String,
        /// Seconds until a retry may succeed.
        retry_after: u64,
    },
    /// A dependency is down (503).
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an outage (500): logged with its chain, never shown.
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl ApiError {
    /// One invalid field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::Validation {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError {
                field: field.into(),
                message,
                row: None,
            }],
        }
    }

    /// A 403 with the standard text.
    pub fn forbidden() -> Self {
        ApiError::Forbidden("your role does not allow this".into())
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest(_) => ("bad-request", "Malformed request"),
            ApiError::Unauthorized(_) => ("unauthorized", "Authentication required"),
            ApiError::Forbidden(_) => ("forbidden", "Not allowed"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::Conflict { kind, .. } => (kind, "Conflict"),
            ApiError::Validation { .. } => ("validation", "Invalid input"),
            ApiError::TooManyRequests { .. } => ("rate-limited", "Too many requests"),
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::Unexpected(_) => ("internal", "Internal error"),
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        let detail = match self {
            ApiError::Unexpected(_) => {
                "something went wrong on our side; it has been logged".into()
            }
            other => other.to_string(),
        };
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.into(),
            status: self.status().as_u16(),
            detail,
            errors: match self {
                ApiError::Validation { errors, .. } => errors.clone(),
                _ => Vec::new(),
            },
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(e: sea_orm::DbErr) -> Self {
        ApiError::Unexpected(anyhow::Error::new(e).context("database"))
    }
}

impl From<sea_orm::TransactionError<ApiError>> for ApiError {
    fn from(e: sea_orm::TransactionError<ApiError>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(e) => e.into(),
            sea_orm::TransactionError::Transaction(e) => e,
        }
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        if let ApiError::Unexpected(e) = self {
            tracing::error!(error = ?e, "unexpected error");
        }
        let mut response = problem_response(&self.problem());
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            response
                .headers_mut()
                .insert("retry-after", poem::http::HeaderValue::from(*retry_after));
        }
        response
    }
}

/// A problem document as a response.
pub fn problem_response(problem: &Problem) -> Response {
    let body = problem.to_json_string();
    Response::builder()
        .status(StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .content_type(PROBLEM_JSON)
        .body(body)
}

/// [`problem_from_poem_error`] for a request to `path`: an unparsable path parameter is
/// named as the document names it, not as the framework does (`param0`).
pub fn problem_at(err: poem::Error, path: &str) -> Response {
    let detail = err.to_string();
    if err.status() == StatusCode::BAD_REQUEST
        && let Some(rest) = detail.strip_prefix("failed to parse path `param")
        && let Some((index, reason)) = rest.split_once("`: ")
        && let Ok(index) = index.parse::<usize>()
    {
        let name = crate::contract::path_param(path, index).unwrap_or_else(|| "id".into());
        let reason = reason
            .strip_prefix("failed to parse \"string_uuid\": ")
            .map_or_else(|| reason.to_owned(), |r| format!("not a UUID ({r})"));
        return ApiError::BadRequest(format!("the path parameter `{name}` is {reason}"))
            .as_response();
    }
    let method_not_allowed = err.status() == StatusCode::METHOD_NOT_ALLOWED;
    let mut response = problem_from_poem_error(err);
    if method_not_allowed
        && let Some(allow) = crate::contract::allowed_methods(path).filter(|m| !m.is_empty())
        && let Ok(value) = poem::http::HeaderValue::from_str(&allow)
    {
        response
            .headers_mut()
            .insert(poem::http::header::ALLOW, value);
    }
    response
}

/// Turns any error poem or poem-openapi raised before a handler ran (unparsable JSON, a
/// failed validator, an unknown route, a missing token) into problem+json.
pub fn problem_from_poem_error(err: poem::Error) -> Response {
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return api.as_response();
    }
    let status = err.status();
    let detail = err.to_string();
    let error = match status {
        StatusCode::UNAUTHORIZED => ApiError::Unauthorized(
            if detail.is_empty() || detail == "unauthorized" || detail == "authorization error" {
                "a valid bearer token is required".into()
            } else {
                detail
            },
        ),
        StatusCode::NOT_FOUND => ApiError::NotFound("resource"),
        StatusCode::METHOD_NOT_ALLOWED => {
            let mut response = problem_response(&Problem {
                kind: "/problems/method-not-allowed".into(),
                title: "Method not allowed".into(),
                status: 405,
                detail: "this path does not accept that method".into(),
                errors: Vec::new(),
            });
            response.set_status(StatusCode::METHOD_NOT_ALLOWED);
            return response;
        }
        StatusCode::PAYLOAD_TOO_LARGE => {
            return problem_response(&Problem {
                kind: "/problems/payload-too-large".into(),
                title: "Payload too large".into(),
                status: 413,
                detail,
                errors: Vec::new(),
            });
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            return problem_response(&Problem {
                kind: "/problems/unsupported-media-type".into(),
                title: "Unsupported media type".into(),
                status: 415,
                detail,
                errors: Vec::new(),
            });
        }
        // A value the document's own rules refuse (a pattern, a range, a length): 422
        // naming the field, as the rules checked in code answer.
        StatusCode::BAD_REQUEST if detail.contains("verification failed") => {
            let field = ["field `", "parameter `"]
                .iter()
                .find_map(|marker| detail.split_once(marker))
                .and_then(|(_, rest)| rest.split_once('`'))
                .map_or("body", |(name, _)| name);
            let rule = detail
                .rsplit_once("verification failed. ")
                .map_or("", |(_, rule)| rule);
            ApiError::invalid(field, rule_text(rule))
        }
        s if s.is_client_error() => ApiError::BadRequest(detail),
        _ => ApiError::Unexpected(anyhow::anyhow!("{detail}")),
    };
    error.as_response()
}

/// A validator's rule as poem-openapi names it (`minimum(1, exclusive: false)`,
/// `maxLength(60)`, `pattern("…")`) in words.
fn rule_text(rule: &str) -> String {
    let arg = |name: &str| {
        rule.strip_prefix(name)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
            .map(|r| r.split(", exclusive").next().unwrap_or(r).to_owned())
    };
    if let Some(v) = arg("minimum") {
        format!("must be at least {v}")
    } else if let Some(v) = arg("maximum") {
        format!("must be at most {v}")
    } else if let Some(v) = arg("minLength") {
        format!("must have at least {v} characters")
    } else if let Some(v) = arg("maxLength") {
        format!("must have at most {v} characters")
    } else if let Some(v) = arg("minItems") {
        format!("must have at least {v} items")
    } else if let Some(v) = arg("maxItems") {
        format!("must have at most {v} items")
    } else if let Some(v) = arg("pattern") {
        format!("must match the pattern {v}")
    } else {
        format!("breaks the rule the API document states for it: {rule}")
    }
}

impl From<InvalidValue> for ApiError {
    fn from(e: InvalidValue) -> Self {
        ApiError::Validation {
            detail: e.0.clone(),
            errors: Vec::new(),
        }
    }
}

/// Extension to name the field an `InvalidValue` came from.
pub trait FieldContext<T> {
    /// Maps an `InvalidValue` to a 422 naming `field`.
    fn field(self, field: &str) -> Result<T, ApiError>;
}

impl<T> FieldContext<T> for Result<T, InvalidValue> {
    fn field(self, field: &str) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::invalid(field, e.0))
    }
}

/// Status bits for [`Errors`]: which problem responses an operation documents.
pub mod status {
    /// 400 Bad Request.
    pub const BAD_REQUEST: u16 = 1;
    /// 401 Unauthorized.
    pub const UNAUTHORIZED: u16 = 1 << 1;
    /// 403 Forbidden.
    pub const FORBIDDEN: u16 = 1 << 2;
    /// 404 Not Found.
    pub const NOT_FOUND: u16 = 1 << 3;
    /// 409 Conflict.
    pub const CONFLICT: u16 = 1 << 4;
    /// 422 Unprocessable Entity.
    pub const VALIDATION: u16 = 1 << 5;
    /// 429 Too Many Requests.
    pub const TOO_MANY: u16 = 1 << 6;
    /// 503 Service Unavailable.
    pub const UNAVAILABLE: u16 = 1 << 7;
    /// 413 Payload Too Large (uploads).
    pub const TOO_LARGE: u16 = 1 << 8;
    /// 415 Unsupported Media Type (uploads).
    pub const UNSUPPORTED_MEDIA: u16 = 1 << 9;
    /// What every authenticated operation can answer.
    pub const AUTHED: u16 = BAD_REQUEST | UNAUTHORIZED | FORBIDDEN;
}

/// An [`ApiError`] as returned by one operation: `M` is a set of [`status`] bits naming the
/// problem responses the operation documents (500 is always documented).
#[derive(Debug)]
pub struct Errors<const M: u16>(pub ApiError);

impl<const M: u16> From<ApiError> for Errors<M> {
    fn from(e: ApiError) -> Self {
        Errors(e)
    }
}

impl<const M: u16> From<sea_orm::DbErr> for Errors<M> {
    fn from(e: sea_orm::DbErr) -> Self {
        Errors(e.into())
    }
}

impl<const M: u16> From<anyhow::Error> for Errors<M> {
    fn from(e: anyhow::Error) -> Self {
        Errors(ApiError::Unexpected(e))
    }
}

impl<const M: u16> From<Errors<M>> for poem::Error {
    fn from(e: Errors<M>) -> Self {
        poem::Error::from(e.0)
    }
}

impl<const M: u16> IntoResponse for Errors<M> {
    fn into_response(self) -> Response {
        self.0.as_response()
    }
}

impl<const M: u16> ApiResponse for Errors<M> {
    fn meta() -> MetaResponses {
        const ALL: [(u16, u16, &str); 10] = [
            (
                status::BAD_REQUEST,
                400,
                "Malformed request: unparsable body, a parameter of the wrong type or shape.",
            ),
            (status::UNAUTHORIZED, 401, "No valid bearer token."),
            (
                status::FORBIDDEN,
                403,
                "The caller's role does not allow this operation.",
            ),
            (
                status::NOT_FOUND,
                404,
                "Not found, or outside the caller's communities or households.",
            ),
            (
                status::CONFLICT,
                409,
                "Conflicts with the current state (duplicate, wrong state, still in use).",
            ),
            (
                status::TOO_LARGE,
                413,
                "The request body is over the server's limit (16 MiB).",
            ),
            (
                status::UNSUPPORTED_MEDIA,
                415,
                "The body is not of the media type the operation takes.",
            ),
            (
                status::VALIDATION,
                422,
                "Well-formed input that breaks a rule; `errors` names the fields.",
            ),
            (
                status::TOO_MANY,
                429,
                "Rate limited; see the Retry-After header.",
            ),
            (
                status::UNAVAILABLE,
                503,
                "A dependency is unavailable; retry later.",
            ),
        ];
        let mut responses: Vec<MetaResponse> = ALL
            .iter()
            .filter(|(bit, _, _)| M & bit != 0)
            .map(|&(_, code, description)| problem_meta(code, description))
            .collect();
        responses.push(problem_meta(500, "Unexpected error; logged on our side."));
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

fn problem_meta(code: u16, description: &'static str) -> MetaResponse {
    MetaResponse {
        description,
        status: Some(code),
        status_range: None,
        content: vec![MetaMediaType {
            content_type: PROBLEM_JSON,
            schema: Problem::schema_ref(),
        }],
        headers: Vec::new(),
    }
}

/// A handler's result: a response or a documented problem.
pub type ApiResult<T, const M: u16> = Result<T, Errors<M>>;

/// Maps a unique-constraint violation to a 409.
pub fn unique_violation(e: sea_orm::DbErr, kind: &'static str, detail: &str) -> ApiError {
    match e.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => ApiError::Conflict {
            kind,
            detail: detail.into(),
        },
        _ => e.into(),
    }
}

/// Maps a foreign-key violation to a 409.
pub fn fk_violation(e: sea_orm::DbErr, detail: &str) -> ApiError {
    // sea-orm recognises SQLite's SQLITE_CONSTRAINT_FOREIGNKEY (787) only; a RESTRICT
    // reference is reported with another extended code (1811) and the same message.
    let refused = matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::ForeignKeyConstraintViolation(_))
    ) || e.to_string().contains("FOREIGN KEY constraint failed");
    if refused {
        ApiError::Conflict {
            kind: "in-use",
            detail: detail.into(),
        }
    } else {
        e.into()
    }
}
