"""crm-singer: tap_crm/pipedrive."""
