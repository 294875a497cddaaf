from app.data_page import render

render()
