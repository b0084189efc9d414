//! What the API answers when it refuses: a status code and `{"error": "..."}`, with the
//! field at fault or the job's state when there is one.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use convoy_core::{JobId, JobStatus};
use serde_json::json;

/// A refused request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// No bearer token.
    #[error("a bearer token is required: send Authorization: Bearer TOKEN")]
    NoToken,
    /// A token of no user.
    #[error("the bearer token is not valid")]
    BadToken,
    /// A body, query or path that does not read; the field at fault when known.
    #[error("{message}")]
    BadRequest {
        /// The field at fault.
        field: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// No such job for this user, or no such route.
    #[error("{0}")]
    NotFound(String),
    /// The job's state does not allow the command.
    #[error("{message}")]
    Conflict {
        /// The job.
        job: JobId,
        /// Its state.
        status: JobStatus,
        /// What was refused.
        message: String,
    },
    /// The body is larger than the server takes.
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    /// The process running the job did not answer in time.
    #[error("{0}")]
    Timeout(String),
    /// Something broke inside the server.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// A bad request naming `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    /// The 404 of a job the user may not see, whether or not it exists.
    pub fn no_job(id: impl std::fmt::Display) -> Self {
        ApiError::NotFound(format!("no job {id}"))
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NoToken | ApiError::BadToken => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({ "error": self.to_string() });
        match &self {
            ApiError::BadRequest {
                field: Some(field), ..
            } => body["field"] = json!(field),
            ApiError::Conflict { job, status, .. } => {
                body["job"] = json!(job.0);
                body["status"] = json!(status.as_str());
            }
            ApiError::Internal(message) => tracing::error!(%message, "internal error"),
            _ => {}
        }
        let mut response = (status, Json(body)).into_response();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The rest of the body is never read, so the connection cannot serve another
            // request; saying so keeps clients from reusing it.
            response
                .headers_mut()
                .insert(header::CONNECTION, "close".parse().expect("a header"));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("a header"),
            );
        }
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(error: crate::store::StoreError) -> Self {
        match error {
            crate::store::StoreError::NoSuchJob(id) => ApiError::no_job(id),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<convoy_core::CommandError> for ApiError {
    fn from(error: convoy_core::CommandError) -> Self {
        match error {
            convoy_core::CommandError::Illegal { job, status, .. }
            | convoy_core::CommandError::NothingToRetry { job, status } => ApiError::Conflict {
                job,
                status,
                message: error.to_string(),
            },
            convoy_core::CommandError::UnknownJob(job) => ApiError::no_job(job),
            other => ApiError::Internal(other.to_string()),
        }
    }
}
