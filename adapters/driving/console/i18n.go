package console

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"golang.org/x/text/message/catalog"
)

// The console's languages: Simplified Chinese (the users') first, so a
// browser that states no preference gets Chinese.
var (
	langZH = language.MustParse("zh-CN")
	langEN = language.English
	langs  = []language.Tag{langZH, langEN}
	// matcher picks the language for an Accept-Language header.
	matcher = language.NewMatcher(langs)
)

// langCookie keeps the language chosen with the switch.
const langCookie = "custody_console_lang"

// langCode is the short code of a supported tag: "zh-CN" or "en".
func langCode(t language.Tag) string {
	if t == langEN {
		return "en"
	}
	return "zh-CN"
}

// parseLang maps a code from the switch or the cookie to a supported tag.
func parseLang(code string) (language.Tag, bool) {
	switch code {
	case "en":
		return langEN, true
	case "zh-CN":
		return langZH, true
	}
	return language.Tag{}, false
}

// requestLang is the language of r: the switch's cookie, else the best
// match of Accept-Language, else Chinese.
func requestLang(r *http.Request) language.Tag {
	if c, err := r.Cookie(langCookie); err == nil {
		if t, ok := parseLang(c.Value); ok {
			return t
		}
	}
	accept := r.Header.Get("Accept-Language")
	if len(accept) > 512 {
		accept = accept[:512]
	}
	tags, _, err := language.ParseAcceptLanguage(accept)
	if err != nil || len(tags) == 0 {
		return langZH
	}
	_, i, _ := matcher.Match(tags...)
	return langs[i]
}

// texts are the console's words: key, English, Chinese. Keys are the
// English text unless it needs arguments or differs by context. Numbers in
// arguments are formatted for the language (grouping) by x/text/message.
var texts = [][3]string{
	{"app", "custody console", "custody 客户资产控制台"},
	{"overview", "Overview", "概览"},
	{"staff", "Staff", "成员"},
	{"departed", "Departed members", "离职成员"},
	{"customers", "Customers", "客户"},
	{"handovers", "Handovers", "继承"},
	{"groups", "Groups", "客户群"},
	{"channels", "Channels", "渠道活码"},
	{"sign in", "Sign in", "登录"},
	{"sign out", "Sign out", "退出"},
	{"token", "Token", "令牌"},
	{"token help", "An API token of your corp (custody tokens create), or the admin token.", "贵企业的 API 令牌（custody tokens create），或管理员令牌。"},
	{"corp", "Corp", "企业"},
	{"bad token", "Unknown token, or not valid for that corp.", "令牌无效，或不属于该企业。"},
	{"time zone", "Times in %s", "时间为 %s"},
	{"read only", "Read-only: this token can look but not act.", "只读：此令牌只能查看，不能操作。"},
	{"generated", "As of %s", "数据截至 %s"},
	{"active staff", "Active staff", "在职成员"},
	{"departed staff", "Departed staff", "离职成员"},
	{"customers n", "Customers", "客户数"},
	{"customers help", "Each customer counted once, however many members follow them.", "每位客户只计一次，无论有多少成员跟进。"},
	{"relations", "Relations", "跟进关系"},
	{"relations help", "One member following one customer: a customer followed by two members is two relations.", "一位成员跟进一位客户为一条关系：被两位成员跟进的客户有两条关系。"},
	{"unassigned", "Unassigned", "离职待分配"},
	{"pending handovers", "Pending handovers", "待接替"},
	{"group chats", "Group chats", "客户群"},
	{"adds vs churn", "Adds vs churn per day, last 30 days", "近 30 天每日新增与流失"},
	{"adds", "Adds", "新增"},
	{"churn", "Churn (deleted by customer)", "流失（客户删除）"},
	{"deleted by staff", "Deleted by staff", "成员删除"},
	{"handover outcomes", "Handover outcomes", "继承结果"},
	{"capacity use", "Capacity use per member", "成员客户容量使用"},
	{"status", "Status", "状态"},
	{"pending", "pending", "等待接替"},
	{"completed", "completed", "已完成"},
	{"refused", "refused by the customer", "客户拒绝"},
	{"failed", "failed", "失败"},
	{"cancelled", "cancelled", "已取消"},
	{"rejected", "refused by rule", "规则不允许"},
	{"skipped", "nothing to do", "无需处理"},
	{"all", "all", "全部"},
	{"active", "active", "在职"},
	{"departed s", "departed", "已离职"},
	{"unknown", "unknown", "未知"},
	{"member", "Member", "成员"},
	{"name", "Name", "姓名"},
	{"capacity", "Capacity", "容量"},
	{"used", "%d of %d", "%d / %d"},
	{"departed at", "Departed", "离职时间"},
	{"assign by", "Assign by", "分配截止"},
	{"days left", "Days left", "剩余天数"},
	{"n days", "%d days", "%d 天"},
	{"window closed", "window closed", "已过期"},
	{"customer", "Customer", "客户"},
	{"customer id", "Customer id", "客户 ID"},
	{"open", "Open", "打开"},
	{"followers", "Current followers", "当前跟进成员"},
	{"ownership", "Ownership line", "归属记录"},
	{"timeline", "Timeline", "时间线"},
	{"consents", "Consents", "授权"},
	{"opt-outs", "Moments opt-outs", "不看朋友圈"},
	{"erased", "erased", "已删除"},
	{"erased customer", "This customer's personal data was erased (PIPL).", "该客户的个人信息已删除（个人信息保护法）。"},
	{"hidden", "hidden", "不可见"},
	{"since", "Since", "开始"},
	{"until", "Until", "结束"},
	{"how started", "How it started", "开始方式"},
	{"how ended", "How it ended", "结束方式"},
	{"now", "now", "至今"},
	{"none", "None.", "无。"},
	{"hand over to", "Hand over to", "转接给"},
	{"message", "Message to the customers (optional, at most %d characters)", "给客户的消息（可选，最多 %d 字）"},
	{"hand over selected", "Hand over the selected customers", "转接选中的客户"},
	{"resigned handover", "Resigned handover (离职继承)", "离职继承"},
	{"in-service handover", "In-service handover (在职继承)", "在职继承"},
	{"resigned help", "Select customers and a member who takes them over. Each customer may refuse within %s; otherwise the handover completes then.", "选择客户和接替成员。客户可在 %s 内拒绝，否则到期自动完成。"},
	{"in-service help", "Each customer can be handed over at most %d times in %s.", "每位客户在 %s 内最多可被转接 %d 次。"},
	{"unassigned customers of", "Unassigned customers", "待分配客户"},
	{"outcomes", "Outcomes", "结果"},
	{"outcome pending", "pending: the customer may refuse until %s", "等待接替：客户可在 %s 前拒绝"},
	{"outcome capacity", "failed: %s is at capacity", "失败：%s 的客户数已达上限"},
	{"outcome failed", "failed: %s", "失败：%s"},
	{"outcome rejected", "refused by rule: %s", "规则不允许：%s"},
	{"outcome replayed", "(already submitted: the first answer is shown)", "（已提交过：显示首次结果）"},
	{"back", "Back", "返回"},
	{"cancel handover", "Cancel this handover", "取消此继承"},
	{"cancelled ok", "The handover was cancelled.", "继承已取消。"},
	{"from", "From", "原成员"},
	{"to", "To", "接替成员"},
	{"kind", "Kind", "类型"},
	{"in_service", "in service", "在职继承"},
	{"resigned", "resigned", "离职继承"},
	{"requested", "Requested", "发起时间"},
	{"deadline", "Deadline", "截止时间"},
	{"pending in", "Pending handovers to this member", "转入待接替"},
	{"pending out", "Pending handovers from this member", "转出待接替"},
	{"pending handover", "Pending handover", "待接替的继承"},
	{"owner", "Owner", "群主"},
	{"owner status", "Owner status", "群主状态"},
	{"needs transfer", "owner departed: needs transfer", "群主已离职：需转移"},
	{"members", "Members", "成员数"},
	{"transfer groups", "Transfer the selected groups", "转移选中的群"},
	{"transfer groups help", "Groups of departed owners go to an active member (离职继承).", "离职成员的群转给在职成员（离职继承）。"},
	{"transferred", "transferred", "已转移"},
	{"channel", "Channel (state)", "渠道（state）"},
	{"adds total", "Adds, all time", "累计新增"},
	{"adds 30", "Adds, last 30 days", "近 30 天新增"},
	{"retention", "30-day retention", "30 天留存"},
	{"retention help", "Of the relations a channel started at least 30 days ago, the share not deleted (by either side) within 30 days.", "渠道 30 天前及更早建立的关系中，30 天内未被任何一方删除的比例。"},
	{"no channel", "(no channel)", "（无渠道）"},
	{"next page", "Next page", "下一页"},
	{"forbidden", "This token may not open that corp's pages.", "此令牌不能查看该企业的页面。"},
	{"not found", "Not found.", "未找到。"},
	{"csrf", "The form expired or did not come from this console. Reload the page and try again.", "表单已过期或并非来自本控制台。请刷新页面后重试。"},
	{"bad form", "The form could not be read: %s", "无法读取表单：%s"},
	{"internal", "Something went wrong on the server; nothing was changed. Try again.", "服务器出错，未做任何更改。请重试。"},
	{"select some", "Select at least one customer.", "请至少选择一位客户。"},
	{"language", "中文", "English"},
	{"customer lookup", "Open a customer by id", "按 ID 打开客户"},
	{"staff page customers", "Customers", "客户"},
	{"activity 30", "Adds and churn, last 30 days", "近 30 天新增与流失"},
	{"corps", "Corps", "企业"},
	{"group", "Group", "群"},
	{"added by", "added", "添加"},
	{"by handover", "handover", "继承"},
	{"purpose", "Purpose", "用途"},
	{"state", "State", "状态"},
	{"changed", "Changed", "变更时间"},
	{"opted out", "opted out", "不看"},
	{"opted in", "opted in again", "重新可见"},
	{"ended", "ended", "已结束"},
	{"unassigned s", "unassigned", "离职待分配"},
	{"active r", "active", "跟进中"},
	{"pending for", "pending to %s until %s", "待 %s 接替，截至 %s"},
	{"no token for act", "This token is read-only.", "此令牌为只读。"},
}

// reasons are the words for rule codes (httpapi.ErrorCode) and failure
// reasons of handovers.
var reasons = [][3]string{
	{"target_at_capacity", "the member took over as many customers as allowed", "接替成员客户数已达上限"},
	{"staff_at_capacity", "the member took over as many customers as allowed", "接替成员客户数已达上限"},
	{"target_departed", "the member who was to take over has departed", "接替成员已离职"},
	{"relation_ended", "the relation ended meanwhile", "关系已结束"},
	{"rejected_by_wecom", "WeCom refused to carry it out", "企业微信拒绝执行"},
	{"handover_limit_reached", "this customer was already handed over the allowed number of times in the period", "该客户在周期内的转接次数已达上限"},
	{"handover_pending", "a handover of this customer is already pending", "该客户已有待接替的继承"},
	{"handover_exists", "a handover of this customer is already pending", "该客户已有待接替的继承"},
	{"assignment_window_closed", "more than the allowed time has passed since the member departed", "离职已超过可分配期限"},
	{"relation_not_active", "the member does not follow this customer (any more)", "该成员（已）不再跟进此客户"},
	{"relation_not_found", "the member does not follow this customer", "该成员未跟进此客户"},
	{"owner_not_departed", "the member has not departed: use an in-service handover", "该成员未离职：请使用在职继承"},
	{"owner_departed", "the member has departed: use a resigned handover", "该成员已离职：请使用离职继承"},
	{"staff_departed", "the member has departed", "该成员已离职"},
	{"staff_not_found", "no such member", "没有该成员"},
	{"same_staff", "a customer cannot be handed over to the member who has them", "不能转接给原成员"},
	{"same_owner", "the group already belongs to that member", "该群已属于该成员"},
	{"customer_erased", "the customer's personal data was erased", "客户个人信息已删除"},
	{"message_too_long", "the message is too long", "消息过长"},
	{"handover_not_pending", "the handover is no longer pending", "该继承已不在等待中"},
	{"handover_window_closed", "the refusal window is over: the handover completes", "拒绝期已过，继承将完成"},
	{"handover_not_found", "no such handover", "没有该继承"},
	{"group_not_found", "no such group", "没有该群"},
	{"group_dismissed", "the group was dismissed", "该群已解散"},
	{"transfer_limit_reached", "the group was transferred the allowed number of times in the period", "该群在周期内的转移次数已达上限"},
	{"refused_by_wecom", "WeCom refused it", "企业微信拒绝"},
	{"wecom_unavailable", "WeCom did not answer clearly; nothing was recorded, try again", "企业微信未明确答复，未记录，请重试"},
	{"invalid_argument", "the request is not valid", "请求无效"},
	{"conflict", "something changed at the same time; try again", "同时有其他更改，请重试"},
	{"unavailable", "the database cannot be reached; try again", "无法连接数据库，请重试"},
	{"deleted_by_customer", "the customer deleted the member", "客户删除了成员"},
	{"deleted_by_staff", "the member deleted the customer", "成员删除了客户"},
	{"handed_over", "handed over", "已转接"},
	{"handed_over_in_wecom", "handed over in WeCom", "在企业微信中转接"},
	{"reconciled", "gone in WeCom (reconciled)", "企业微信中已不存在（对账）"},
}

// catalogs is the message catalog of both languages.
var cat = func() catalog.Catalog {
	b := catalog.NewBuilder(catalog.Fallback(langEN))
	for _, t := range append(append([][3]string{}, texts...), reasons...) {
		if err := b.SetString(langEN, t[0], t[1]); err != nil {
			panic(err)
		}
		if err := b.SetString(langZH, t[0], t[2]); err != nil {
			panic(err)
		}
	}
	return b
}()

// words formats the console's texts, numbers and times for one request.
type words struct {
	lang language.Tag
	p    *message.Printer
	loc  *time.Location
}

func newWords(lang language.Tag, loc *time.Location) *words {
	if loc == nil {
		loc = time.UTC
	}
	return &words{lang: lang, p: message.NewPrinter(lang, message.Catalog(cat)), loc: loc}
}

// T is the text of key, formatted with args.
func (w *words) T(key string, args ...any) string { return w.p.Sprintf(key, args...) }

// Reason is the words for a rule code or failure reason; the code itself
// when it has none.
func (w *words) Reason(code string) string {
	if code == "" {
		return ""
	}
	for _, r := range reasons {
		if r[0] == code {
			return w.p.Sprintf(code)
		}
	}
	return code
}

// N formats an integer with the language's grouping.
func (w *words) N(n int) string { return w.p.Sprintf("%d", n) }

// Pct formats a share 0..1 as a percentage with one decimal.
func (w *words) Pct(f float64) string { return w.p.Sprintf("%.1f%%", f*100) }

// Time formats t in the corp's zone.
func (w *words) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(w.loc)
	if w.lang == langEN {
		return t.Format("2 Jan 2006 15:04")
	}
	return t.Format("2006年1月2日 15:04")
}

// Date formats t's day in the corp's zone.
func (w *words) Date(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(w.loc)
	if w.lang == langEN {
		return t.Format("2 Jan 2006")
	}
	return t.Format("2006年1月2日")
}

// Zone names the corp's time zone with its current offset, e.g.
// "Asia/Shanghai (UTC+08:00)".
func (w *words) Zone(now time.Time) string {
	return w.loc.String() + " (UTC" + now.In(w.loc).Format("-07:00") + ")"
}

// Duration says a window in days or hours ("24 hours", "90 天").
func (w *words) Duration(d time.Duration) string {
	if d%(24*time.Hour) == 0 && d >= 48*time.Hour {
		n := int(d / (24 * time.Hour))
		if w.lang == langEN {
			return fmt.Sprintf("%d days", n)
		}
		return fmt.Sprintf("%d 天", n)
	}
	h := int(d.Round(time.Hour) / time.Hour)
	if w.lang == langEN {
		return fmt.Sprintf("%d hours", h)
	}
	return fmt.Sprintf("%d 小时", h)
}

// Code is the language code for the page's lang attribute.
func (w *words) Code() string { return langCode(w.lang) }

// Other is the code of the language the switch offers.
func (w *words) Other() string {
	if w.lang == langEN {
		return "zh-CN"
	}
	return "en"
}

// lower is strings.ToLower for the templates.
func lower(s string) string { return strings.ToLower(s) }
