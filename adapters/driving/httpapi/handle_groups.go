package httpapi

import "github.com/custody/custody/commands"

func createGroup(c *call) (any, error) {
	var req createGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := checkID("chat_id", req.ChatID); err != nil {
		return nil, err
	}
	if err := checkID("owner_id", req.OwnerID); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.CreateGroupChat(c.ctx, commands.CreateGroupChat{
		Meta: c.meta(req.commandFields), ChatID: req.ChatID, OwnerID: req.OwnerID, Name: req.Name,
	})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func joinGroup(c *call) (any, error) {
	chat, err := c.id("chat")
	if err != nil {
		return nil, err
	}
	var req joinGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := checkID("member_id", req.MemberID); err != nil {
		return nil, err
	}
	if req.InviterID != "" {
		if err := checkID("inviter_id", req.InviterID); err != nil {
			return nil, err
		}
	}
	res, err := c.srv.opts.Commands.JoinGroupChat(c.ctx, commands.JoinGroupChat{
		Meta: c.meta(req.commandFields), ChatID: chat, MemberID: req.MemberID, MemberType: req.MemberType,
		JoinScene: req.JoinScene, InviterID: req.InviterID, Nickname: req.Nickname,
	})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func leaveGroup(c *call) (any, error) {
	chat, err := c.id("chat")
	if err != nil {
		return nil, err
	}
	member, err := c.id("member")
	if err != nil {
		return nil, err
	}
	var req leaveGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.LeaveGroupChat(c.ctx, commands.LeaveGroupChat{
		Meta: c.meta(req.commandFields), ChatID: chat, MemberID: member, QuitScene: req.QuitScene,
	})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func changeGroupOwner(c *call) (any, error) {
	chat, err := c.id("chat")
	if err != nil {
		return nil, err
	}
	var req groupOwnerRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	if err := checkID("to_staff_id", req.ToStaffID); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.TransferGroupChat(c.ctx, commands.TransferGroupChat{
		Meta: c.meta(req.commandFields), ChatID: chat, ToStaffID: req.ToStaffID, Reason: req.Reason,
	})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func renameGroup(c *call) (any, error) {
	chat, err := c.id("chat")
	if err != nil {
		return nil, err
	}
	var req renameGroupRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.RenameGroupChat(c.ctx, commands.RenameGroupChat{Meta: c.meta(req.commandFields), ChatID: chat, Name: req.Name})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func changeGroupNotice(c *call) (any, error) {
	chat, err := c.id("chat")
	if err != nil {
		return nil, err
	}
	var req groupNoticeRequest
	if err := c.decode(&req); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.ChangeGroupNotice(c.ctx, commands.ChangeGroupNotice{Meta: c.meta(req.commandFields), ChatID: chat, Notice: req.Notice})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}

func dismissGroup(c *call) (any, error) {
	chat, err := c.id("chat")
	if err != nil {
		return nil, err
	}
	var req dismissGroupRequest
	if err := c.decodeOptional(&req); err != nil {
		return nil, err
	}
	res, err := c.srv.opts.Commands.DismissGroupChat(c.ctx, commands.DismissGroupChat{Meta: c.meta(req.commandFields), ChatID: chat})
	if err != nil {
		return nil, err
	}
	return commandResult(c, res), nil
}
