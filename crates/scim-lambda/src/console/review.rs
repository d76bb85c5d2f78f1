//! PLACEHOLDER: the Review page (conflicts, deleted users, import).
use super::{ActionForm, ConsoleError, ConsoleResult, Operator};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::response::Response;

pub async fn page(
    State(_state): State<AppState>,
    _operator: Operator,
    Path(_tenant): Path<String>,
) -> ConsoleResult<Response> {
    Err(ConsoleError::NotFound)
}
pub async fn resolve(
    State(_state): State<AppState>,
    Path(_p): Path<(String, String, String)>,
    _form: ActionForm,
) -> ConsoleResult<Response> {
    Err(ConsoleError::NotFound)
}
pub async fn restore(
    State(_state): State<AppState>,
    Path(_p): Path<(String, String)>,
    _form: ActionForm,
) -> ConsoleResult<Response> {
    Err(ConsoleError::NotFound)
}
pub async fn import(
    State(_state): State<AppState>,
    Path(_p): Path<String>,
    _form: ActionForm,
) -> ConsoleResult<Response> {
    Err(ConsoleError::NotFound)
}
