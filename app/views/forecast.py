from app.forecast_page import render

render()
