"""Generated from proto/itm/v1 by `make proto`. Do not edit."""
