"""Risk library: the deterministic pre-trade veto (RiskEngine), exposure math and the rate budget.

Pure state with an injected clock, shared by the risk service and the backtester.
"""
