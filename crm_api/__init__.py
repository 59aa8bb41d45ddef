"""crm-singer: crm_api."""
