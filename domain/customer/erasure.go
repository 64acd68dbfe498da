package customer

import "github.com/custody/custody/events"

// Erase records customer.erased. The caller then destroys the customer's
// data key. Erasing an erased customer records nothing.
func (c *Customer) Erase() []events.Payload {
	if c.erased {
		return nil
	}
	return []events.Payload{&events.CustomerErased{CustomerID: c.id}}
}
