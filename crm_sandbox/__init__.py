"""crm-singer: crm_sandbox."""
