"""ComfyUI node classes: schema, validation, one call into a capability. No algorithms here."""
