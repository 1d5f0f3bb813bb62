//! `/internal/recordings` (the list) and `/internal/files/{filename}` (the audio, with `Range`).

use actix_files::NamedFile;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, Responder as _, web};

use memharbor_shared::internal_api::ForUser;

use super::RecorderState;
use crate::error::RecorderError;
use crate::storage::ListQuery;
use crate::storage::list::{DEFAULT_LIMIT, MAX_LIMIT, decode_cursor};

/// Parses `channel`, `groupId`, `user`, `limit` (1–200) and `cursor`; other parameters are ignored.
pub fn parse_query(query: &str) -> Result<ListQuery, RecorderError> {
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        ..ListQuery::default()
    };
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "channel" => q.channel = Some(value),
            "groupId" => q.group_id = Some(value),
            "user" => q.user = Some(value),
            "limit" => {
                q.limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|l| (1..=MAX_LIMIT).contains(l))
                    .ok_or_else(|| {
                        RecorderError::bad_request(
                            "invalid_limit",
                            Some("limit"),
                            "limit must be an integer from 1 to 200 (default 50)",
                        )
                    })?;
            }
            "cursor" => {
                if value.is_empty() || decode_cursor(&value).is_none() {
                    return Err(RecorderError::bad_request(
                        "invalid_cursor",
                        Some("cursor"),
                        "cursor must be the nextCursor of a previous page",
                    ));
                }
                q.cursor = Some(value);
            }
            _ => {}
        }
    }
    Ok(q)
}

pub async fn list(
    state: web::Data<RecorderState>,
    req: HttpRequest,
) -> Result<HttpResponse, RecorderError> {
    let query = parse_query(req.query_string())?;
    let page = state
        .store
        .list(&query)
        .await
        .map_err(|e| RecorderError::Firestore(e.to_string()))?;
    Ok(HttpResponse::Ok().json(page))
}

pub async fn file(
    state: web::Data<RecorderState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ForUser>,
) -> Result<HttpResponse, RecorderError> {
    let filename = path.into_inner();
    // Only names the index knows (never a path built from unchecked input), and with `forUser`
    // only files of that user's recordings.
    let owner = state
        .store
        .index
        .recording_of_file(&filename)
        .ok_or(RecorderError::RecordingNotFound)?;
    if let Some(user) = &query.for_user
        && owner.body.user1 != *user
        && owner.body.user2 != *user
    {
        return Err(RecorderError::RecordingNotFound);
    }
    let path = state.recordings_dir.join(&filename);
    let file = web::block(move || NamedFile::open(path))
        .await
        .map_err(|_| RecorderError::RecordingNotFound)?
        .map_err(|_| RecorderError::RecordingNotFound)?
        .set_content_type(actix_files::file_extension_to_mime("wav"))
        .set_content_disposition(ContentDisposition {
            disposition: DispositionType::Inline,
            parameters: vec![DispositionParam::Filename(filename)],
        });
    Ok(file.respond_to(&req).map_into_boxed_body())
}
