"""crm-singer: target_crm."""
