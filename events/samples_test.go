package events

import "time"

var sampleTime = time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)

// samples holds one fully populated payload per event type: every field set,
// so a golden file pins every field's stored name and shape.
func samples() map[string]Payload {
	list := []Payload{
		&StaffJoined{StaffID: "zhangsan", Capacity: 5000, PII: StaffPII{Name: "张三"}},
		&StaffDeparted{StaffID: "zhangsan"},
		&StaffErased{StaffID: "zhangsan"},
		&StaffCapacityChanged{StaffID: "zhangsan", Capacity: 20000},
		&StaffSlotReserved{StaffID: "lisi", CustomerID: "wmABC", Reason: SlotForHandover, HandoverID: "h-1"},
		&StaffSlotReleased{StaffID: "lisi", CustomerID: "wmABC", Reason: SlotReleasedHandoverSettled, HandoverID: "h-1"},
		&CustomerRelationStarted{
			CustomerID: "wmABC", StaffID: "zhangsan", Initiator: InitiatorCustomer, AddWay: 1,
			State: "expo-2026", Tags: []string{"vip", "beijing"}, StartedBy: StartedByHandover, HandoverID: "h-1",
			PII: RelationPII{CustomerName: "王五", Remark: "老客户", Description: "likes tea", Phones: []string{"+8613800000000"}},
		},
		&CustomerRelationEdited{
			CustomerID: "wmABC", StaffID: "zhangsan", Tags: []string{"vip"},
			PII: RelationPII{CustomerName: "王五", Remark: "新备注", Description: "prefers email", Phones: []string{"+8613800000001"}},
		},
		&CustomerRelationEnded{CustomerID: "wmABC", StaffID: "zhangsan", Reason: EndHandedOver, HandoverID: "h-1"},
		&CustomerErased{CustomerID: "wmABC"},
		&MomentsOptedOut{CustomerID: "wmABC", StaffID: "zhangsan", Source: "marketing-tool"},
		&MomentsOptedIn{CustomerID: "wmABC", StaffID: "zhangsan", Source: "staff"},
		&ConsentRecorded{CustomerID: "wmABC", Purpose: PurposeChatArchive, State: ConsentDefaultAgree, ChangedAt: sampleTime},
		&HandoverRequested{
			HandoverID: "h-1", CustomerID: "wmABC", Kind: HandoverInService, FromStaffID: "zhangsan",
			ToStaffID: "lisi", BatchID: "b-1", Deadline: sampleTime.Add(24 * time.Hour),
			PII: HandoverRequestPII{Message: "您好，今后由李四为您服务"},
		},
		&HandoverRefused{HandoverID: "h-1", CustomerID: "wmABC"},
		&HandoverCompleted{HandoverID: "h-1", CustomerID: "wmABC", FromStaffID: "zhangsan", ToStaffID: "lisi"},
		&HandoverFailed{HandoverID: "h-1", CustomerID: "wmABC", Reason: FailTargetAtCapacity},
		&HandoverCancelled{HandoverID: "h-1", CustomerID: "wmABC"},
		&GroupChatCreated{ChatID: "wrChat", OwnerID: "zhangsan", Name: "VIP 客户群"},
		&GroupChatMemberJoined{
			ChatID: "wrChat", MemberID: "wmABC", MemberType: MemberCustomer, JoinScene: JoinQRCode,
			InviterID: "zhangsan", PII: GroupMemberPII{Nickname: "小王"},
		},
		&GroupChatMemberLeft{ChatID: "wrChat", MemberID: "wmABC", MemberType: MemberCustomer, QuitScene: QuitRemoved},
		&GroupChatOwnerChanged{ChatID: "wrChat", FromStaffID: "zhangsan", ToStaffID: "lisi", Reason: OwnerChangeResigned},
		&GroupChatRenamed{ChatID: "wrChat", Name: "VIP 群 2"},
		&GroupChatNoticeChanged{ChatID: "wrChat", Notice: "周五活动"},
		&GroupChatDismissed{ChatID: "wrChat"},
		&TagCreated{TagID: "etTAG1", Kind: TagKindTag, GroupID: "etGROUP1", Name: "高意向"},
		&TagRenamed{TagID: "etTAG1", Kind: TagKindTag, Name: "重点客户"},
		&TagDeleted{TagID: "etTAG1", Kind: TagKindTag},
		&TagsReordered{TagID: "etGROUP1", Kind: TagKindGroup},
		&WeComFactUnmatched{
			Kind: "change_external_contact/del_follow_user", Reason: UnmatchedRelationNotActive, CustomerID: "wmABC",
			StaffID: "zhangsan", ChatID: "wrChat", MemberIDs: []string{"wmABC", "lisi"}, CallbackKey: "3f2a",
		},
		&CorpSettingsChanged{
			StaffCapacity: 5000, HandoverWindowSeconds: 86400, InServiceHandoverLimit: 2, InServiceHandoverPeriodSeconds: 7776000,
			MaxHandoverBatch: 100, MaxHandoverMessage: 200, ResignedAssignmentWindowSeconds: 31536000, GroupMaxMembers: 500,
			GroupTransferLimit: 2, GroupTransferPeriodSeconds: 7776000,
			MassMessageCapDay: "off", MassMessageCapWeek: "7", MassMessageCapMonth: "days_in_month", TimeZone: "Asia/Shanghai",
			Changed: []string{"staff_capacity"}, ChangedBy: "admin:tok_7Qm2",
		},
		&OutreachPlanned{
			MessageID: "msg-2026-03-spring", Channel: ChannelMassMessage, StaffID: "zhangsan",
			CustomerIDs: []string{"wmABC", "wmDEF"}, ChatIDs: []string{"wrChat"}, Text: "春季新品上市", Personal: true,
			PII: OutreachPII{Text: "王五您好，春季新品上市"},
		},
		&OutreachDelivered{
			MessageID: "msg-2026-03-spring", Channel: ChannelMassMessage, StaffID: "zhangsan", CustomerID: "wmABC",
			ChatID: "wrChat", ReportedBy: ReportedByWeCom, Counted: true, Violations: []string{OutreachCapMonth},
		},
		&OutreachCapReached{CustomerID: "wmABC", ChatID: "wrChat", Window: WindowMonth, Cap: 31, Until: sampleTime.Add(17 * 24 * time.Hour)},
		&OutreachSent{
			MessageID: "msg-2026-03-spring", Channel: ChannelMassMessage, StaffID: "zhangsan",
			CustomerIDs: []string{"wmABC"}, ChatIDs: []string{"wrChat"}, ReportedBy: ReportedByWeCom,
			Flagged: []OutreachRecipient{{CustomerID: "wmABC", ChatID: "wrChat", Reasons: []string{OutreachCapMonth}}},
		},
		&OutreachRefused{
			MessageID: "msg-2026-03-spring", Channel: ChannelMassMessage, StaffID: "zhangsan",
			Refused: []OutreachRecipient{{CustomerID: "wmDEF", ChatID: "wrChat", Reasons: []string{OutreachConsentWithdrawn, OutreachCapDay}}},
		},
	}
	out := make(map[string]Payload, len(list))
	for _, p := range list {
		out[p.EventType()] = p
	}
	return out
}
