//! The hub's request-level errors: one enum, one JSON shape, one documented code each
//! (docs/protocol.md#error-codes).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    BadParameter { parameter: String, message: String },
    #[error("{0}")]
    BadCosignature(String),
    #[error("the request took longer than {0} s")]
    Timeout(u64),
    #[error("the hub is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::MalformedJson(_) => "malformed_json",
            AppError::TooLarge(_) => "too_large",
            AppError::NotFound(_) => "not_found",
            AppError::BadParameter { .. } => "bad_parameter",
            AppError::BadCosignature(_) => "bad_cosignature",
            AppError::Timeout(_) => "timeout",
            AppError::ShuttingDown => "shutting_down",
            AppError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            AppError::MalformedJson(_)
            | AppError::BadParameter { .. }
            | AppError::BadCosignature(_) => StatusCode::BAD_REQUEST,
            AppError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            AppError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut error = json!({
            "code": self.code(),
            "message": self.to_string(),
            "docs": format!("docs/protocol.md#{}", self.code().replace('_', "-")),
        });
        if let AppError::BadParameter { parameter, .. } = &self {
            error["parameter"] = parameter.clone().into();
        }
        (self.status(), axum::Json(json!({ "error": error }))).into_response()
    }
}

impl From<yiqi_store::StorageError> for AppError {
    fn from(e: yiqi_store::StorageError) -> Self {
        AppError::Internal(e.to_string())
    }
}
