//! Between recorders (cluster mode): the segments this recorder holds, for the recorder that
//! assembles a recording (`GET` one's description and files, `DELETE` it once the assembled
//! recording is saved); and `POST /internal/handover`, a draining recorder asking this one to
//! continue a session.

use actix_files::NamedFile;
use actix_web::{HttpRequest, HttpResponse, Responder as _, web};
use uuid::Uuid;

use super::RecorderState;
use crate::continuity::{HandoverAnswer, HandoverRequest, SegmentStore};
use crate::error::RecorderError;

fn store(state: &RecorderState) -> Result<&SegmentStore, RecorderError> {
    state
        .sessions
        .context()
        .continuity
        .as_ref()
        .map(|c| &c.store)
        .ok_or(RecorderError::SegmentNotFound)
}

fn ids(sid: &str, fencing: &str) -> Result<(Uuid, u64), RecorderError> {
    match (Uuid::parse_str(sid), fencing.parse()) {
        (Ok(sid), Ok(fencing)) => Ok((sid, fencing)),
        _ => Err(RecorderError::SegmentNotFound),
    }
}

pub async fn describe(
    state: web::Data<RecorderState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RecorderError> {
    let (sid, fencing) = ids(&path.0, &path.1)?;
    let meta = store(&state)?
        .get(sid, fencing)
        .ok_or(RecorderError::SegmentNotFound)?;
    Ok(HttpResponse::Ok().json(meta))
}

pub async fn file(
    state: web::Data<RecorderState>,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, RecorderError> {
    let (sid, fencing) = ids(&path.0, &path.1)?;
    let store = store(&state)?;
    let meta = store
        .get(sid, fencing)
        .ok_or(RecorderError::SegmentNotFound)?;
    let name = &path.2;
    // Only the segment's own files.
    if meta.mix != *name && !meta.speakers.iter().any(|(_, n)| n == name) {
        return Err(RecorderError::SegmentNotFound);
    }
    let file = store
        .file(sid, fencing, name)
        .ok_or(RecorderError::SegmentNotFound)?;
    let file = web::block(move || NamedFile::open(file))
        .await
        .map_err(|_| RecorderError::SegmentNotFound)?
        .map_err(|_| RecorderError::SegmentNotFound)?;
    Ok(file.respond_to(&req).map_into_boxed_body())
}

pub async fn forget(
    state: web::Data<RecorderState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, RecorderError> {
    let (sid, fencing) = ids(&path.0, &path.1)?;
    let store = store(&state)?;
    if store.get(sid, fencing).is_none() {
        return Err(RecorderError::SegmentNotFound);
    }
    store.remove(sid, fencing);
    tracing::info!(%sid, fencing, "a segment is in its assembled recording: deleted");
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, serde::Deserialize)]
pub struct FetchFrom {
    recorder: String,
}

/// Copies a segment from the recorder that holds it (one about to go away after a hand-over).
pub async fn fetch(
    state: web::Data<RecorderState>,
    path: web::Path<(String, String)>,
    from: web::Json<FetchFrom>,
) -> Result<HttpResponse, RecorderError> {
    let (sid, fencing) = ids(&path.0, &path.1)?;
    let continuity = state
        .sessions
        .context()
        .continuity
        .clone()
        .ok_or(RecorderError::SegmentNotFound)?;
    if continuity.store.get(sid, fencing).is_none() {
        let url = continuity
            .cluster()
            .live_url(&from.recorder)
            .ok_or(RecorderError::SegmentNotFound)?;
        continuity
            .peers
            .fetch(&url, sid, fencing, &continuity.store)
            .await
            .map_err(|e| RecorderError::Internal(format!("cannot copy the segment: {e}")))?;
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Continues a session a draining recorder hands over; answers once this recorder's audio flows.
pub async fn handover(
    state: web::Data<RecorderState>,
    req: web::Json<HandoverRequest>,
) -> Result<HttpResponse, RecorderError> {
    let answer: HandoverAnswer = state.sessions.take_handover(req.into_inner()).await?;
    Ok(HttpResponse::Ok().json(answer))
}
