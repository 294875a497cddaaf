"""The Streamlit user interface, on the public `forecasting` API only."""
