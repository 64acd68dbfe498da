package commands

import (
	"context"
	"errors"
	"strings"

	"github.com/custody/custody/domain/corp"
	"github.com/custody/custody/events"
)

// ChangeCorpSettings changes some of a corp's settings (corp.Fields).
type ChangeCorpSettings struct {
	Meta
	// Changes maps setting names (corp.Fields: "staff_capacity",
	// "handover_window", "time_zone", ...) to their new values as text:
	// whole numbers, durations ("48h", "180d"), an IANA time zone. Fields
	// not named keep their value.
	Changes map[string]string
}

// ChangeCorpSettings records corp.settings_changed on the corp's settings
// stream (events.CorpSettingsStream) with the complete new settings, the
// fields that changed and the actor. An unknown field, a value that does
// not parse or is out of range is a *FieldError "settings" naming every
// problem, and nothing is recorded; so is a change to what the settings
// already are (no event, no error).
func (h *Handler) ChangeCorpSettings(ctx context.Context, cmd ChangeCorpSettings) (Result, error) {
	r, err := h.begin(ctx, cmd.Meta)
	if err != nil {
		return Result{}, err
	}
	for name, v := range cmd.Changes {
		if err := checkText("settings", name+v, 200); err != nil {
			return Result{}, err
		}
	}
	return execute(ctx, r, step[*corp.Config]{
		stream: events.CorpSettingsStream(r.meta.CorpID),
		load:   corp.RehydrateConfig,
		decide: func(c *corp.Config) ([]events.Payload, error) {
			next, err := c.Settings().Apply(cmd.Changes)
			if err != nil {
				return nil, settingsError(err)
			}
			pays, err := c.Change(next, r.meta.Actor)
			if err != nil {
				return nil, settingsError(err)
			}
			return pays, nil
		},
	})
}

// settingsError turns corp's joined validation errors into one FieldError.
func settingsError(err error) error {
	if !errors.Is(err, corp.ErrInvalidSettings) {
		return err
	}
	prefix := corp.ErrInvalidSettings.Error() + ": "
	var problems []string
	for _, line := range strings.Split(err.Error(), "\n") {
		problems = append(problems, strings.TrimPrefix(line, prefix))
	}
	return invalid("settings", "%s", strings.Join(problems, "; "))
}

// CorpSettings answers a corp's settings: the effective ones (what the
// rules apply now, from the Handler's SettingsSource, HandoversInWeCom
// included) and its settings stream in full, for the recorded values and
// the audit trail.
func (h *Handler) CorpSettings(ctx context.Context, corpID string) (corp.Settings, *corp.Config, error) {
	cfg, err := CorpConfig(ctx, h.log, corpID)
	if err != nil {
		return corp.Settings{}, nil, err
	}
	set, err := h.settings.Settings(ctx, corpID)
	if err != nil {
		return corp.Settings{}, nil, err
	}
	return set, cfg, nil
}

// EffectiveSettings are the settings the rules apply to corpID now (the
// Handler's SettingsSource): for queries that show what a rule allows,
// such as how long a departed member's customers can still be assigned.
func (h *Handler) EffectiveSettings(ctx context.Context, corpID string) (corp.Settings, error) {
	return h.settings.Settings(ctx, corpID)
}
