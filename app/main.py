"""Almanac in the browser: `streamlit run app/main.py`.

The sidebar chooses and reads the data (app/data_source.py); the pages look at it (Data), forecast it
(Forecast) and backtest models on it (Backtest). Everything computed comes from the `forecasting` API.
"""
import streamlit as st

from app import session
from app.data_source import sidebar

st.set_page_config(page_title="Almanac", page_icon=":material/query_stats:", layout="wide")

PAGES = [
    st.Page("views/data.py", title="Data", icon=":material/table_chart:", url_path="data"),
    st.Page("views/forecast.py", title="Forecast", icon=":material/insights:", url_path="forecast", default=True),
    st.Page("views/backtest.py", title="Backtest", icon=":material/fact_check:", url_path="backtest"),
]

session.keep_track()
page = st.navigation(PAGES, position="top")
st.sidebar.title("Almanac")
sidebar()
page.run()
