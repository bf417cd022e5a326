//! Problems in the caller's language: `title` and `detail` (and each field's message) of an
//! `application/problem+json` answer follow `Accept-Language` (`zh-CN`, `en`), and without
//! one a resident's own locale; `type`, `status` and field names never change, so clients
//! branch on those. Titles are translated for every problem type; details and field
//! messages where the catalogue below has them (the framework's, authentication, limits,
//! lookups and the body checks), else they stay as written. `Content-Language` says which.

use poem::{
    Endpoint, IntoResponse, Request, Response,
    http::{HeaderValue, header},
};
use sea_orm::EntityTrait;
use serde_json::Value;

use crate::{error::PROBLEM_JSON, state::AppState};

/// The languages problems are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Simplified Chinese.
    ZhCn,
    /// English (the text as the code writes it).
    En,
}

impl Lang {
    fn tag(self) -> &'static str {
        match self {
            Lang::ZhCn => "zh-CN",
            Lang::En => "en",
        }
    }

    fn of(tag: &str) -> Option<Self> {
        let tag = tag.trim().to_ascii_lowercase();
        if tag.starts_with("zh") {
            Some(Lang::ZhCn)
        } else if tag.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }
}

/// The language an `Accept-Language` value prefers among those spoken here (by `q`, then
/// order); `None` when it names none of them.
pub fn preferred(header: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let tag = pieces.next().unwrap_or_default();
        let q = pieces
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if let Some(lang) = Lang::of(tag).filter(|_| q > 0.0)
            && best.is_none_or(|(b, _)| q > b)
        {
            best = Some((q, lang));
        }
    }
    best.map(|(_, lang)| lang)
}

fn title(kind: &str) -> Option<&'static str> {
    Some(match kind.strip_prefix("/problems/")? {
        "bad-request" => "请求无法解析",
        "unauthorized" => "需要登录",
        "forbidden" => "无权操作",
        "not-found" => "未找到",
        "validation" => "输入有误",
        "rate-limited" => "请求过于频繁",
        "unavailable" => "服务暂不可用",
        "internal" => "服务器内部错误",
        "method-not-allowed" => "不支持该方法",
        "payload-too-large" => "请求体过大",
        "unsupported-media-type" => "不支持的媒体类型",
        // Every conflict slug (`duplicate-phone`, `invalid-state`, ...).
        _ => "操作冲突",
    })
}

/// Whole texts, as the code writes them.
const TEXTS: &[(&str, &str)] = &[
    ("a valid bearer token is required", "需要有效的访问令牌"),
    ("the access token is invalid", "访问令牌无效"),
    (
        "the access token has expired; refresh it",
        "访问令牌已过期，请刷新",
    ),
    ("your role does not allow this", "您的角色无权执行此操作"),
    (
        "too many requests from this address",
        "来自该地址的请求过多，请稍后再试",
    ),
    (
        "this path does not accept that method",
        "该路径不接受此方法",
    ),
    (
        "something went wrong on our side; it has been logged",
        "服务器出现问题，已记录",
    ),
    ("must be a string", "必须是字符串"),
    ("must be an integer", "必须是整数"),
    ("must be a number", "必须是数字"),
    ("must be true or false", "必须是 true 或 false"),
    ("must be an array", "必须是数组"),
    ("must be an object", "必须是对象"),
    (
        "may not be null: leave the field out instead",
        "不能为 null：不填时请省略该字段",
    ),
    ("not a cursor from a previous page", "不是上一页给出的游标"),
];

/// What a lookup names, in `{what} not found`.
const NOUNS: &[(&str, &str)] = &[
    ("resource", "资源"),
    ("ticket", "工单"),
    ("household", "房屋"),
    ("resident", "住户"),
    ("community", "小区"),
    ("building", "楼栋"),
    ("unit", "单元"),
    ("staff member", "员工"),
    ("notice", "通知"),
    ("bill", "账单"),
    ("booking", "预约"),
    ("service", "服务"),
    ("payment", "支付"),
    ("device", "设备"),
    ("delivery", "投递"),
];

/// `text` in `lang`, if the catalogue has it.
fn translate(text: &str, lang: Lang) -> Option<String> {
    if lang == Lang::En {
        return None;
    }
    if let Some((_, zh)) = TEXTS.iter().find(|(en, _)| *en == text) {
        return Some((*zh).to_owned());
    }
    if let Some(what) = text.strip_suffix(" not found") {
        let noun = NOUNS
            .iter()
            .find(|(en, _)| *en == what)
            .map_or(what, |(_, zh)| zh);
        return Some(format!("未找到{noun}"));
    }
    // The body check's summary, and a rule's `field: message`.
    if let Some(rest) = text.strip_prefix("the body does not have the types the document gives: ") {
        let fields: Vec<String> = rest
            .split("; ")
            .map(|f| translate(f, lang).unwrap_or_else(|| f.to_owned()))
            .collect();
        return Some(format!("请求体的类型与接口文档不符：{}", fields.join("；")));
    }
    let (field, message) = text.split_once(": ")?;
    let message = translate(message, lang)?;
    Some(format!("{field}：{message}"))
}

/// Rewrites `problem` (a problem document) in `lang`.
pub fn localize(problem: &mut Value, lang: Lang) {
    if lang == Lang::En {
        return;
    }
    if let Some(title) = problem.get("type").and_then(Value::as_str).and_then(title) {
        problem["title"] = title.into();
    }
    if let Some(detail) = problem
        .get("detail")
        .and_then(Value::as_str)
        .and_then(|d| translate(d, lang))
    {
        problem["detail"] = detail.into();
    }
    if let Some(errors) = problem.get_mut("errors").and_then(Value::as_array_mut) {
        for error in errors {
            if let Some(message) = error
                .get("message")
                .and_then(Value::as_str)
                .and_then(|m| translate(m, lang))
            {
                error["message"] = message.into();
            }
        }
    }
}

/// The resident's own locale, when the request carries a resident's valid token.
async fn residents_locale(state: &AppState, req_token: Option<String>) -> Option<Lang> {
    let token = req_token?;
    let claims = state.tokens.verify(&token, state.clock.now()).ok()?;
    if claims.kind != crate::auth::tokens::SubjectKind::Resident {
        return None;
    }
    let resident = courtyard_domain::entities::resident::Entity::find_by_id(claims.sub)
        .one(&state.db)
        .await
        .ok()??;
    Lang::of(&resident.locale)
}

/// Writes problem answers in the caller's language.
pub async fn around<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let asked = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .and_then(preferred);
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::to_owned);
    let state = req.data::<AppState>().cloned();
    let path = req.uri().path().to_owned();
    let mut response = match next.call(req).await {
        Ok(response) => response.into_response(),
        Err(e) => crate::error::problem_at(e, &path),
    };
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with(PROBLEM_JSON));
    if !is_problem {
        return Ok(response);
    }
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("Accept-Language"));
    // The resident's locale costs a query: not for a flood of 429s or while the database
    // may be what failed.
    let cheap = response.status().is_server_error()
        || response.status() == poem::http::StatusCode::TOO_MANY_REQUESTS;
    let lang = match (asked, &state) {
        (Some(lang), _) => lang,
        (None, Some(state)) if !cheap => residents_locale(state, token).await.unwrap_or(Lang::En),
        (None, _) => Lang::En,
    };
    response.headers_mut().insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.tag()),
    );
    if lang == Lang::En {
        return Ok(response);
    }
    let (parts, body) = response.into_parts();
    let bytes = body.into_bytes().await.unwrap_or_default();
    let body = match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut problem) => {
            localize(&mut problem, lang);
            serde_json::to_vec(&problem).unwrap_or_else(|_| bytes.to_vec())
        }
        Err(_) => bytes.to_vec(),
    };
    let mut response = Response::from_parts(parts, body.into());
    response.headers_mut().remove(header::CONTENT_LENGTH);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accept_language_picks_by_quality_then_order() {
        assert_eq!(preferred("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::ZhCn));
        assert_eq!(preferred("en-US,en;q=0.9,zh-CN;q=0.5"), Some(Lang::En));
        assert_eq!(preferred("fr;q=1, zh-Hans;q=0.4, en;q=0.6"), Some(Lang::En));
        assert_eq!(preferred("zh;q=0, en;q=0.1"), Some(Lang::En));
        assert_eq!(preferred("de, fr"), None);
    }

    #[test]
    fn a_problem_is_written_in_chinese_where_the_catalogue_knows_it() {
        let mut problem = json!({ "type": "/problems/validation", "title": "Invalid input", "status": 422,
            "detail": "cursor: not a cursor from a previous page",
            "errors": [{ "field": "cursor", "message": "not a cursor from a previous page" },
                       { "field": "x", "message": "a rule only English knows" }] });
        localize(&mut problem, Lang::ZhCn);
        assert_eq!(problem["title"], "输入有误");
        assert_eq!(problem["detail"], "cursor：不是上一页给出的游标");
        assert_eq!(problem["errors"][0]["message"], "不是上一页给出的游标");
        assert_eq!(problem["errors"][0]["field"], "cursor");
        assert_eq!(problem["errors"][1]["message"], "a rule only English knows");
        assert_eq!(problem["type"], "/problems/validation");
        let mut missing = json!({ "type": "/problems/not-found", "title": "Not found", "detail": "ticket not found" });
        localize(&mut missing, Lang::ZhCn);
        assert_eq!(missing["detail"], "未找到工单");
        let mut conflict =
            json!({ "type": "/problems/duplicate-phone", "title": "Conflict", "detail": "x" });
        localize(&mut conflict, Lang::ZhCn);
        assert_eq!(conflict["title"], "操作冲突");
        assert_eq!(conflict["detail"], "x");
    }
}
