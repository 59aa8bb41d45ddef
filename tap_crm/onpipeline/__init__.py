"""crm-singer: tap_crm/onpipeline."""
