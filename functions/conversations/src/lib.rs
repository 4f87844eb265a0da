//! Groups and people: create and list conversations, read one's details and members, add and
//! remove members, change roles; read markers; invite links; the caller's profile and other
//! people's names.

use lambda_http::{Body, Request, Response};
use shared::api::{conversations, invites, members, people, read};
use shared::edge::http::{empty, json, json_body, serve};
use shared::edge::route::Route;
use shared::{ApiError, App};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    serve(req, |ctx, req| async move {
        match ctx.route {
            Route::ListConversations => {
                let page = ctx.query.page(&ctx.caller.user_id)?;
                json(200, &conversations::list(app, &ctx.caller, page).await?)
            }
            Route::CreateConversation => {
                let (conversation, created) =
                    conversations::create(app, &ctx.caller, json_body(&req)?).await?;
                json(if created { 201 } else { 200 }, &conversation)
            }
            Route::ConversationDetails { conversation_id } => json(
                200,
                &conversations::details(app, &ctx.caller, &conversation_id).await?,
            ),
            Route::MarkRead { conversation_id } => json(
                200,
                &read::mark(app, &ctx.caller, &conversation_id, json_body(&req)?).await?,
            ),
            Route::ListMembers { conversation_id } => {
                let page = ctx.query.page(&conversation_id)?;
                json(
                    200,
                    &members::list(app, &ctx.caller, &conversation_id, page).await?,
                )
            }
            Route::AddMember { conversation_id } => {
                let (member, added) =
                    members::add(app, &ctx.caller, &conversation_id, json_body(&req)?).await?;
                json(if added { 201 } else { 200 }, &member)
            }
            Route::ChangeRole {
                conversation_id,
                user_id,
            } => {
                let member = members::change_role(
                    app,
                    &ctx.caller,
                    &conversation_id,
                    &user_id,
                    json_body(&req)?,
                )
                .await?;
                json(200, &member)
            }
            Route::RemoveMember {
                conversation_id,
                user_id,
            } => {
                members::remove(app, &ctx.caller, &conversation_id, &user_id).await?;
                Ok(empty(204))
            }
            Route::CreateInvite { conversation_id } => {
                let (invite, created) =
                    invites::create(app, &ctx.caller, &conversation_id, json_body(&req)?).await?;
                json(if created { 201 } else { 200 }, &invite)
            }
            Route::ListInvites { conversation_id } => {
                let page = ctx.query.page(&conversation_id)?;
                json(
                    200,
                    &invites::list(app, &ctx.caller, &conversation_id, page).await?,
                )
            }
            Route::RevokeInvite {
                conversation_id,
                code,
            } => {
                invites::revoke(app, &ctx.caller, &conversation_id, &code).await?;
                Ok(empty(204))
            }
            Route::InvitePreview { code } => json(200, &invites::preview(app, &code).await?),
            Route::AcceptInvite { code } => {
                let (conversation, joined) = invites::accept(app, &ctx.caller, &code).await?;
                json(if joined { 201 } else { 200 }, &conversation)
            }
            Route::Me => json(200, &people::me(app, &ctx.caller).await?),
            Route::UpdateMe => json(
                200,
                &people::update_me(app, &ctx.caller, json_body(&req)?).await?,
            ),
            Route::Users => json(
                200,
                &people::users(app, &ctx.caller, ctx.query.get("ids").unwrap_or("")).await?,
            ),
            _ => Err(ApiError::route_not_found()),
        }
    })
    .await
}
