"""The rules. Each public module here defines one `gradfix.rules.Rule` subclass; the engine finds them all.

Modules starting with `_` hold helpers shared by several rules and define no rule.
"""
