"""The system's own words, in one catalogue: what Hotline says or shows that no flow wrote.

Flow prompts belong to their nodes (a flow file owns its prompt, options and phrases); these
are the texts around them: the speech menu's "please say that again", the touch page's
buttons and final pages, the voice queue's announcements. Each message has an id
(``area.name``) and a text per language; ``{name}`` placeholders (the flow prompts' syntax,
``ivr_flows.core.model.parse_template``) are the same in every language.

``message(msg_id, lang, **values)`` fills one in: the caller's language, else English, else
the id itself (a language the catalogue does not speak still gets something to show). An id
that is not in the catalogue is a bug: ``KeyError``. Pure data; no I/O.

Ids and their placeholders:

- ``speech.again``, ``speech.keys``, ``speech.confirm`` ({label}): speech menus (ko, en, zh)
- ``touch.*``: the touch page's own words (``touch.queue_message`` {target},
  ``touch.queue_chat_message`` {target}, ``touch.callback_message`` {number},
  ``touch.transfer_message`` {target}); ``touch.choose``: a menu's heading when its node has
  no ``screen`` text
- ``problem.<code>``, ``problem.<code>_detail``, ``problem.home``: the touch page's problem
  pages (an expired or tampered link, an expired or edited page, a step still running, bad
  input, not found)
- ``queue.position`` {position}, ``queue.expected_wait`` {minutes}, ``queue.no_agent``,
  ``queue.callback``: what a caller waiting in the voice queue hears
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr_flows.core.model import TextPart, VarPart, parse_template

FALLBACK_LANGUAGE = "en"

MESSAGES: Mapping[str, Mapping[str, str]] = {
    # -- speech menus ("say it or press it")
    "speech.again": {"ko": "죄송합니다. 다시 말씀해 주세요.",
                     "en": "Sorry, please say that again.",
                     "zh": "对不起，请再说一遍。"},
    "speech.keys": {"ko": "번호를 눌러 선택해 주세요.",
                    "en": "Please press a key to choose.",
                    "zh": "请按键选择。"},
    "speech.confirm": {"ko": "{label}, 맞습니까? 네는 1번, 아니요는 2번.",
                       "en": "{label}? Yes: press 1. No: press 2.",
                       "zh": "{label}，对吗？是请按1，不是请按2。"},
    # -- the touch page
    "touch.back": {"en": "Back", "zh": "返回"},
    "touch.submit": {"en": "Continue", "zh": "确定"},
    "touch.digits_hint": {"en": "Digits only", "zh": "仅限数字"},
    "touch.start_again": {"en": "Start again", "zh": "重新开始"},
    "touch.number_label": {"en": "Your phone number", "zh": "您的手机号码"},
    "touch.number_submit": {"en": "Call me back", "zh": "请回电给我"},
    "touch.number_invalid": {
        "en": "Please enter a phone number: 5 to 20 digits, optionally starting with +.",
        "zh": "请输入5至20位数字的电话号码，可以+开头。"},
    "touch.queue_heading": {"en": "We have your request", "zh": "已收到您的请求"},
    "touch.queue_message": {
        "en": "Our agents have your request (queue: {target}). "
              "An agent will contact you as soon as possible.",
        "zh": "我们已收到您的请求（队列：{target}），客服人员会尽快与您联系。"},
    "touch.callback_heading": {"en": "We will call you back", "zh": "我们将回电给您"},
    "touch.callback_message": {
        "en": "An agent will call you on {number} during opening hours.",
        "zh": "客服人员将在工作时间致电{number}与您联系。"},
    "touch.callback_ask_heading": {"en": "Call me back", "zh": "请回电给我"},
    "touch.callback_ask_message": {
        "en": "Which number should we call? An agent will call you during opening hours.",
        "zh": "请留下您的电话号码，客服人员将在工作时间回电。"},
    "touch.transfer_heading": {"en": "We have passed on your request", "zh": "已为您转交请求"},
    "touch.transfer_message": {
        "en": "Your request has been passed on to {target}. They will contact you.",
        "zh": "您的请求已转交给{target}，对方会与您联系。"},
    "touch.hangup_heading": {"en": "Thank you", "zh": "感谢您的使用"},
    "touch.hangup_message": {"en": "You can close this page now, or start again.",
                             "zh": "您现在可以关闭本页面，或重新开始。"},
    "touch.language": {"en": "Language", "zh": "语言"},
    "touch.choose": {"en": "Choose an option", "zh": "请选择"},
    "touch.queue_chat_heading": {"en": "Talk to an agent", "zh": "联系人工客服"},
    "touch.queue_chat_message": {
        "en": "Open the chat to talk to an agent (queue: {target}). The agent sees what you "
              "did here, so you need not repeat it.",
        "zh": "打开在线咨询，与客服人员交流（队列：{target}）。客服人员能看到您在这里的操作，"
              "无需重复说明。"},
    "touch.queue_chat_open": {"en": "Open the chat", "zh": "打开在线咨询"},
    "touch.chat": {"en": "Chat with us", "zh": "在线咨询"},
    "touch.question_label": {"en": "Or type your question", "zh": "或者直接输入您的问题"},
    "touch.question_send": {"en": "Ask", "zh": "提问"},
    "touch.answer_heading": {"en": "This may answer your question", "zh": "这也许能解答您的问题"},
    "touch.answer_none": {"en": "Sorry, we found no answer to that. An agent can help you.",
                          "zh": "抱歉，没有找到相关答案，人工客服可以帮助您。"},
    "touch.answer_helped": {"en": "That helped", "zh": "问题已解决"},
    "touch.answer_person": {"en": "Talk to a person", "zh": "转人工服务"},
    "touch.answer_back": {"en": "Back to the menu", "zh": "返回菜单"},
    "touch.contained_heading": {"en": "Glad we could help", "zh": "很高兴能帮到您"},
    "touch.contained_message": {"en": "You can close this page now, or start again.",
                                "zh": "您可以关闭本页面，或重新开始。"},
    # -- the touch page's problem pages (shown in Chinese and English at once)
    "problem.link_expired": {"zh": "链接已过期", "en": "This link has expired"},
    "problem.link_expired_detail": {"zh": "为保护您的信息，链接在一段时间后失效。",
                                    "en": "For your safety, links stop working after a while."},
    "problem.link_tampered": {"zh": "链接无效", "en": "This link is not valid"},
    "problem.link_tampered_detail": {"zh": "链接不完整或已被修改。",
                                     "en": "The link is incomplete or has been changed."},
    "problem.state_tampered": {"zh": "页面已失效", "en": "This page is no longer valid"},
    "problem.state_tampered_detail": {"zh": "页面内容已被修改或已过期。",
                                      "en": "The page was changed or is out of date."},
    "problem.state_expired": {"zh": "页面已过期", "en": "This page has expired"},
    "problem.state_expired_detail": {
        "zh": "为保护您的信息，页面在一段时间后失效。请重新开始。",
        "en": "For your safety, pages stop working after a while. Please start again."},
    "problem.state_stale": {"zh": "菜单已更新", "en": "The menu has changed"},
    "problem.state_stale_detail": {
        "zh": "您打开这个页面之后菜单有了变化。请重新开始。",
        "en": "The menu was updated after this page was made. Please start again."},
    "problem.busy": {"zh": "正在处理您的请求", "en": "We are still working on it"},
    "problem.busy_detail": {"zh": "您的请求仍在处理中，请稍后再试。",
                            "en": "Your request is still being handled. Please try again "
                                  "in a moment."},
    "problem.bad_input": {"zh": "无法处理该请求", "en": "We could not handle that request"},
    "problem.bad_input_detail": {"zh": "请从主菜单重新开始。",
                                 "en": "Please start again from the main menu."},
    "problem.not_found": {"zh": "页面不存在", "en": "Page not found"},
    "problem.not_found_detail": {"zh": "没有找到这个页面。", "en": "There is no such page."},
    "problem.home": {"zh": "返回主菜单", "en": "Start from the main menu"},
    # -- waiting in the voice queue
    "queue.position": {"zh": "您前面还有{position}位客户在等待。",
                       "en": "You are number {position} in the queue."},
    "queue.expected_wait": {"zh": "预计等待时间约{minutes}分钟。",
                            "en": "The expected wait is about {minutes} minutes."},
    "queue.transfer": {"zh": "正在为您转接，请稍候。",
                       "en": "Please hold while we transfer your call."},
    "queue.no_agent": {
        "zh": "很抱歉，现在没有客服可以接听您的电话，请稍后再拨。再见。",
        "en": "Sorry, no agent can take your call right now. Please call again later. "
              "Goodbye."},
    "queue.callback": {
        "zh": "好的，我们已记下您的回电请求，将按您排队的顺序回电给您。再见。",
        "en": "We have your callback request: we will call you back in your turn in the "
              "queue. Goodbye."},
    "queue.callback_option": {
        "zh": "按{key}挂机回电，保留排队位置。",
        "en": "Press {key} to be called back, keeping your place."},
}


def has_message(msg_id: str, lang: str) -> bool:
    """Whether the catalogue speaks ``lang`` for this message (no fallback). KeyError for an
    unknown id. For speech, where English text in another language's voice is worse than
    saying nothing."""
    return lang in MESSAGES[msg_id]


def template(msg_id: str, lang: str) -> str:
    """The text with its ``{name}`` placeholders: ``lang``, else English, else the id."""
    texts = MESSAGES[msg_id]
    return texts.get(lang) or texts.get(FALLBACK_LANGUAGE) or msg_id


def message(msg_id: str, lang: str, **values: object) -> str:
    """One message filled in (a placeholder without a value is left empty)."""
    return "".join(p.text if isinstance(p, TextPart) else str(values.get(p.name, ""))
                   for p in parse_template(template(msg_id, lang)))


def placeholders(text: str) -> frozenset[str]:
    """The names of a text's ``{name}`` placeholders."""
    return frozenset(p.name for p in parse_template(text) if isinstance(p, VarPart))


def ids(prefix: str = "") -> tuple[str, ...]:
    """Every message id (that starts with ``prefix``), in catalogue order."""
    return tuple(k for k in MESSAGES if k.startswith(prefix))
