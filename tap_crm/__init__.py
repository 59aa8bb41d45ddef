"""crm-singer: tap_crm."""
