//! The hub's request-level errors: one enum, one JSON shape, one documented code each
//! (docs/protocol.md#error-codes).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use yiqi_search::http::{ApiError, ErrorCode, status_of};

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
    #[error("the hub is shutting down")]
    ShuttingDown,
    #[error("internal error: {0}")]
    Internal(String),
    /// An error of the routes and helpers the hub shares with the nodes, passed on as it is.
    #[error(transparent)]
    Shared(#[from] ApiError),
}

impl AppError {
    /// The stable code clients match on; its status comes from the shared table
    /// ([`yiqi_schema::protocol::ApiErrorCode`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::MalformedJson(_) => ErrorCode::MalformedJson,
            AppError::TooLarge(_) => ErrorCode::TooLarge,
            AppError::NotFound(_) => ErrorCode::NotFound,
            AppError::BadParameter { .. } => ErrorCode::BadParameter,
            AppError::BadCosignature(_) => ErrorCode::BadCosignature,
            AppError::ShuttingDown => ErrorCode::ShuttingDown,
            AppError::Internal(_) => ErrorCode::Internal,
            AppError::Shared(e) => e.code,
        }
    }

    pub fn status(&self) -> StatusCode {
        status_of(self.code())
    }
}

impl From<AppError> for ApiError {
    fn from(e: AppError) -> ApiError {
        let (code, message) = (e.code(), e.to_string());
        match e {
            AppError::Shared(shared) => shared,
            AppError::BadParameter { parameter, .. } => ApiError {
                parameter: Some(parameter),
                ..ApiError::new(code, message)
            },
            _ => ApiError::new(code, message),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}

impl From<yiqi_store::StorageError> for AppError {
    fn from(e: yiqi_store::StorageError) -> Self {
        AppError::Internal(e.to_string())
    }
}
