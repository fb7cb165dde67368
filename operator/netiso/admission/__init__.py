"""The admission keeper: netiso's guardrail ValidatingAdmissionPolicies, kept in place.

The objects themselves (and their CEL) are rendered in rendering/; this package plans and
applies the steps from what the API server holds to what the profiles ask for.
"""
