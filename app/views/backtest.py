from app.backtest_page import render

render()
